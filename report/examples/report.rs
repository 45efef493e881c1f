//! Writes `<run-dir>/report/` without the harness: `cargo run -p wow-report --example report --
//! <run-dir>` (the same as `wowbench report <run-dir>`).

fn main() -> anyhow::Result<()> {
    let dir = std::env::args_os()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("usage: report <run-dir>"))?;
    let s = wow_report::generate(std::path::Path::new(&dir))?;
    println!("{}", s.report_md.display());
    Ok(())
}
