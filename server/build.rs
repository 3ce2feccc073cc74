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
//! It also watches the web admin panel's directory (`admin-ui/`), which rust-embed compiles
//! into the binary: a file added or removed there rebuilds the crate.

use std::path::Path;
use std::process::Command;

fn main() {
    let panel = Path::new(env!("CARGO_MANIFEST_DIR")).join("../admin-ui");
    println!("cargo:rerun-if-changed={}", panel.display());
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
