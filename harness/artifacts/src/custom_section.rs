//! Makes distinct modules from one: the same code with a custom section appended, so its
//! content digest (and so its compiled-artifact cache entry) differs while its behaviour does
//! not. Used where each sandbox must hold its own compiled module, as each container in the
//! paper held its own.

/// `wasm` with a custom section `name` holding `payload` appended at the end.
pub fn with_custom_section(wasm: &[u8], name: &str, payload: &[u8]) -> Vec<u8> {
    let mut body = Vec::with_capacity(name.len() + payload.len() + 5);
    leb128(&mut body, name.len() as u64);
    body.extend_from_slice(name.as_bytes());
    body.extend_from_slice(payload);
    let mut out = Vec::with_capacity(wasm.len() + body.len() + 6);
    out.extend_from_slice(wasm);
    out.push(0); // custom section id
    leb128(&mut out, body.len() as u64);
    out.extend_from_slice(&body);
    out
}

fn leb128(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appended_section_is_valid_and_readable() {
        // The smallest module: magic and version only.
        let empty = b"\0asm\x01\0\0\0".to_vec();
        let payload = vec![7u8; 300]; // forces a two-byte LEB128 size
        let out = with_custom_section(&empty, "wowbench-id", &payload);
        wasmparser::Validator::new().validate_all(&out).unwrap();
        let mut found = None;
        for p in wasmparser::Parser::new(0).parse_all(&out) {
            if let wasmparser::Payload::CustomSection(c) = p.unwrap() {
                found = Some((c.name().to_string(), c.data().to_vec()));
            }
        }
        assert_eq!(found, Some(("wowbench-id".to_string(), payload)));
        assert_ne!(
            with_custom_section(&empty, "a", b"1"),
            with_custom_section(&empty, "a", b"2")
        );
    }
}
