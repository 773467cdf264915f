//! The names and numbers of src/sys.rs and Error against sdk/abi/abi.go,
//! where the ABI's are kept as Go constants (the test passes without the
//! checkout around the crate).

use capstream::Error;
use std::path::Path;

/// Returns the quoted strings of the Go constant declarations `Func… = "…"`.
fn go_strings(src: &str, prefix: &str) -> Vec<String> {
    src.lines()
        .map(str::trim)
        .filter(|l| l.starts_with(prefix) && l.contains('='))
        .filter_map(|l| l.split('"').nth(1).map(str::to_string))
        .collect()
}

/// Returns sdk/abi/abi.go with its runs of white space made single spaces,
/// or None outside the checkout.
fn abi_go() -> Option<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../abi/abi.go");
    let src = std::fs::read_to_string(path).ok()?;
    Some(src.lines().map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ")).collect::<Vec<_>>().join("\n"))
}

#[test]
fn import_names() {
    let go = match abi_go() {
        Some(go) => go,
        None => return,
    };
    let sys = include_str!("../src/sys.rs");
    let mut imported: Vec<String> = sys
        .lines()
        .filter_map(|l| l.trim().strip_prefix("#[link_name = \""))
        .filter_map(|l| l.split('"').next().map(str::to_string))
        .filter(|name| name != "random_get")
        .collect();
    let mut want = go_strings(&go, "Func");
    imported.sort();
    want.sort();
    assert_eq!(imported, want);
    assert!(go.contains(&format!("const Module = \"{}\"", capstream::sys::MODULE)));
    assert!(sys.contains(&format!("#[link(wasm_import_module = \"{}\")]", capstream::sys::MODULE)));
    assert!(go.contains(&format!("const MaxErrorMessage = {}", capstream::sys::MAX_ERROR_MESSAGE)));
    for export in go_strings(&go, "Export") {
        if export != "memory" && export != "_initialize" {
            let tool = include_str!("../src/tool.rs");
            assert!(tool.contains(&format!("pub extern \"C\" fn {}()", export)), "{} is not exported", export);
        }
    }
}

#[test]
fn error_codes() {
    let go = match abi_go() {
        Some(go) => go,
        None => return,
    };
    let codes = [
        ("ErrDenied", Error::DENIED, "denied"),
        ("ErrNotFound", Error::NOT_FOUND, "not_found"),
        ("ErrInvalid", Error::INVALID, "invalid"),
        ("ErrQuota", Error::QUOTA, "quota"),
        ("ErrUpstream", Error::UPSTREAM, "upstream"),
        ("ErrTooLarge", Error::TOO_LARGE, "too_large"),
        ("ErrStorage", Error::STORAGE, "storage"),
    ];
    for (name, code, word) in codes {
        assert!(go.contains(&format!("{} int32 = {}", name, code)), "{} is not {}", name, code);
        assert!(go.contains(&format!("return \"{}\"", word)), "{}", word);
        assert_eq!(Error::name_of(code), word);
    }
    for (name, level) in [("LevelDebug", 0), ("LevelInfo", 1), ("LevelWarn", 2), ("LevelError", 3)] {
        assert!(go.contains(&format!("{} int32 = {}", name, level)), "{}", name);
    }
    assert_eq!(
        [capstream::Level::Debug, capstream::Level::Info, capstream::Level::Warn, capstream::Level::Error]
            .map(|l| l as i32),
        [0, 1, 2, 3]
    );
}
