//! Every `.wasm` artifact is a valid WASI command module.

mod common;

use wasmparser::{ExternalKind, Parser, Payload, Validator};
use wow_artifacts::{SIZE_VARIANT_WORKLOAD, VARIANT_DEBUG, VARIANT_RELEASE, WORKLOADS};

fn check_module(path: &std::path::Path) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    // Default features include SIMD, which the release modules use.
    Validator::new()
        .validate_all(&bytes)
        .unwrap_or_else(|e| panic!("{} does not validate: {e}", path.display()));
    let mut start = false;
    let mut wasi_imports = 0;
    for payload in Parser::new(0).parse_all(&bytes) {
        match payload.unwrap() {
            Payload::ExportSection(exports) => {
                for export in exports {
                    let export = export.unwrap();
                    start |= export.name == "_start" && export.kind == ExternalKind::Func;
                }
            }
            Payload::ImportSection(imports) => {
                for import in imports.into_imports() {
                    let import = import.unwrap();
                    assert_eq!(
                        import.module,
                        "wasi_snapshot_preview1",
                        "{} imports {}::{}",
                        path.display(),
                        import.module,
                        import.name
                    );
                    wasi_imports += 1;
                }
            }
            _ => {}
        }
    }
    assert!(start, "{} exports no function _start", path.display());
    assert!(
        wasi_imports > 0,
        "{} imports nothing from WASI",
        path.display()
    );
}

#[test]
fn every_wasm_artifact_validates_and_exports_start() {
    let a = common::artifacts();
    for w in WORKLOADS {
        check_module(&a.wasm(w));
    }
    for variant in [VARIANT_RELEASE, VARIANT_DEBUG] {
        check_module(&a.wasm_variant(SIZE_VARIANT_WORKLOAD, variant));
    }
}

#[test]
fn size_variants_are_ordered_as_in_the_paper() {
    let a = common::artifacts();
    let size = |p: std::path::PathBuf| std::fs::metadata(p).unwrap().len();
    let lto = size(a.wasm(SIZE_VARIANT_WORKLOAD));
    let release = size(a.wasm_variant(SIZE_VARIANT_WORKLOAD, VARIANT_RELEASE));
    let debug = size(a.wasm_variant(SIZE_VARIANT_WORKLOAD, VARIANT_DEBUG));
    assert!(
        lto < release && release < debug,
        "{lto} < {release} < {debug}"
    );
}
