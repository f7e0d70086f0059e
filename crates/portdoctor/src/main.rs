//! The `portdoctor` binary: everything lives in the library.
fn main() -> std::process::ExitCode {
    portdoctor::main()
}
