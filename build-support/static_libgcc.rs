//! Build script shared by the binaries whose start-up time is part of the
//! product (`subnet-calc`, `client`; each names it with `build = ...` in its
//! Cargo.toml): links libgcc's unwinder statically instead of loading
//! `libgcc_s.so.1` at run time.
//!
//! Why: Rust's std on `*-linux-gnu` links `-lgcc_s`, and loading that
//! library runs its constructor, `__cpu_indicator_init`, which issues a
//! series of `cpuid` instructions; each one traps to the hypervisor on a
//! virtual machine. Measured on the 2-core development VM (docs/BENCHMARKS.md):
//! one `subnet-calc` lookup took 0.74 ms of CPU with the library and
//! 0.56 ms without it (`perf stat -r 500`), and a one-shot `client -- true`
//! went from 2.1 to 1.8 ms wall time (`hyperfine -N`, 200 runs).
//!
//! How: the linker resolves `-lgcc_s` by searching the `-L` directories in
//! order, and those a build script adds come before the compiler's own. We
//! put a one-line linker script named `libgcc_s.so` in `OUT_DIR` that names
//! `libgcc_eh.a`, the static archive of the same unwinder that gcc itself
//! uses for `-static-libgcc`. libc stays dynamic. The script only affects
//! the link steps of the package that uses it; when `libgcc_eh.a` is
//! missing we leave the search path alone and say so.

use std::env;
use std::fs;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    // Rerun only when the linker changes (and, as for every build script,
    // when this file does).
    println!("cargo:rerun-if-env-changed=RUSTC_LINKER");
    let target = env::var("TARGET").unwrap_or_default();
    if !target.ends_with("-linux-gnu") {
        return;
    }
    // crt-static builds already link the unwinder statically.
    if env::var("CARGO_CFG_TARGET_FEATURE").is_ok_and(|f| f.split(',').any(|f| f == "crt-static")) {
        return;
    }
    if !c_compiler_has("libgcc_eh.a") {
        println!("cargo:warning=libgcc_eh.a not found; the binary will load libgcc_s.so.1");
        return;
    }
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    fs::write(out.join("libgcc_s.so"), "INPUT(-lgcc_eh)\n").expect("write to OUT_DIR");
    println!("cargo:rustc-link-search=native={}", out.display());
}

/// Whether the C compiler rustc links with (`cc`) can find `file` in its
/// library search path.
fn c_compiler_has(file: &str) -> bool {
    let cc = env::var("RUSTC_LINKER").unwrap_or_else(|_| "cc".to_owned());
    Command::new(cc)
        .arg(format!("-print-file-name={file}"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
        // gcc echoes the bare name back when it has no such file.
        .is_some_and(|p| p.is_absolute() && p.exists())
}
