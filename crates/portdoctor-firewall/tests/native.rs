//! The native nftables reader (netlink) against `nft -j list ruleset`, in lab namespaces.

#![cfg(target_os = "linux")]

#[path = "native/equiv.rs"]
mod equiv;

use equiv::Equivalence;

/// Loads each file named in `PORTDOCTOR_NATIVE_FILES` into namespace `PORTDOCTOR_NATIVE_NS`
/// and prints the differences (development aid; skipped when unset).
#[test]
fn dev_compare_files() {
    let (Ok(ns), Ok(files)) = (
        std::env::var("PORTDOCTOR_NATIVE_NS"),
        std::env::var("PORTDOCTOR_NATIVE_FILES"),
    ) else {
        return;
    };
    let mut eq = Equivalence::default();
    for f in files.split(',') {
        let st = std::process::Command::new("ip")
            .args(["netns", "exec", &ns, "nft", "-f", f])
            .status()
            .unwrap();
        assert!(st.success(), "{f} did not load");
        eq.check(&ns).unwrap();
    }
    for d in &eq.differences {
        eprintln!("{d}");
    }
    eprintln!("{}", eq.summary());
}

/// Writes the raw dump of the current namespace to `PORTDOCTOR_NATIVE_DUMP` (development
/// aid and fuzz seeds; skipped when unset).
#[test]
fn dev_dump_raw() {
    let Ok(path) = std::env::var("PORTDOCTOR_NATIVE_DUMP") else {
        return;
    };
    let bytes = portdoctor_firewall::backend::nft_netlink::dump_raw().unwrap();
    std::fs::write(path, &bytes).unwrap();
}
