//! Lays out the code that runs at start-up together in release builds.
//!
//! The kernel maps an executable's code 64 KiB around each page first touched, so start-up
//! code scattered over the binary's 15 MiB of code kept about 9 MiB of it resident for the
//! server's whole life. `startup.order` lists the functions a start-up runs (recorded by
//! `bench/startup-order.sh`); the linker places them first, and an idle server keeps about
//! 2 MiB of code resident instead. Names missing from a build (changed code) are skipped,
//! so a stale list costs only memory, never correctness.
//!
//! Only where the linker is known to be LLD (Rust's default for x86_64 Linux since 1.90),
//! which understands `--symbol-ordering-file`; `CITADEL_NO_CODE_ORDER=1` turns it off.
//!
//! It also lists the web admin panel's files (`admin-ui/`) for `include_bytes!`, so the
//! panel is compiled into the binary and a new or removed file rebuilds it.

use std::path::Path;
use std::process::Command;

fn main() {
    embed_admin_ui();
    let order = Path::new(env!("CARGO_MANIFEST_DIR")).join("startup.order");
    println!("cargo:rerun-if-changed={}", order.display());
    println!("cargo:rerun-if-env-changed=CITADEL_NO_CODE_ORDER");
    if std::env::var("PROFILE").as_deref() == Ok("release") && linker_is_default_lld() {
        println!(
            "cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={}",
            order.display()
        );
        println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
    }
}

fn linker_is_default_lld() -> bool {
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    if !var("CITADEL_NO_CODE_ORDER").is_empty()
        || var("TARGET") != "x86_64-unknown-linux-gnu"
        || !var("CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER").is_empty()
        || var("CARGO_ENCODED_RUSTFLAGS").contains("link")
    {
        return false;
    }
    // `rustc -vV` prints e.g. "release: 1.95.0".
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let Ok(output) = Command::new(rustc).arg("-vV").output() else {
        return false;
    };
    let text = String::from_utf8_lossy(&output.stdout);
    let minor = text
        .lines()
        .find_map(|line| line.strip_prefix("release: 1."))
        .and_then(|rest| rest.split('.').next()?.parse::<u32>().ok());
    minor.is_some_and(|minor| minor >= 90)
}

/// Writes `$OUT_DIR/admin_ui.rs`: `ADMIN_UI_FILES`, each file's path relative to
/// `admin-ui/` and its bytes, sorted by path.
fn embed_admin_ui() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../admin-ui");
    println!("cargo:rerun-if-changed={}", root.display());
    let mut files = Vec::new();
    collect(&root, &root, &mut files);
    files.sort();
    let mut out = String::from("pub static ADMIN_UI_FILES: &[(&str, &[u8])] = &[\n");
    for (relative, absolute) in files {
        out.push_str(&format!(
            "    ({relative:?}, include_bytes!({:?})),\n",
            absolute.display().to_string()
        ));
    }
    out.push_str("];\n");
    let dest =
        Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("admin_ui.rs");
    std::fs::write(dest, out).expect("OUT_DIR is writable");
}

fn collect(root: &Path, dir: &Path, files: &mut Vec<(String, std::path::PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        // Editor leftovers and hidden files are not part of the panel.
        if name.starts_with('.') || name.ends_with('~') || name.ends_with(".swp") {
            continue;
        }
        if path.is_dir() {
            collect(root, &path, files);
        } else if let Ok(relative) = path.strip_prefix(root) {
            let relative = relative.to_string_lossy().replace('\\', "/");
            let absolute = path.canonicalize().unwrap_or(path);
            files.push((relative, absolute));
        }
    }
}
