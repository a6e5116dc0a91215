//! Links libgcc's unwinder into `subnet-calc` statically, instead of loading
//! `libgcc_s.so.1` at run time.
//!
//! Why: issue 6 asks a one-shot lookup to start as fast as sipcalc, a small
//! C program. Rust's std on `*-linux-gnu` links `-lgcc_s`, and loading that
//! library runs its constructor, `__cpu_indicator_init`, which issues a
//! series of `cpuid` instructions; each one traps to the hypervisor on a
//! virtual machine. `perf stat -r 500` measured 0.74 ms of CPU per run with
//! the library and 0.56 ms without it (docs/BENCHMARKS.md).
//!
//! How: the linker resolves `-lgcc_s` by searching the `-L` directories in
//! order, and those a build script adds come before the compiler's own. We
//! put a one-line linker script named `libgcc_s.so` in `OUT_DIR` that names
//! `libgcc_eh.a`, the static archive of the same unwinder that gcc itself
//! uses for `-static-libgcc`. libc stays dynamic. The script only affects
//! this package's link steps; nothing is linked differently when
//! `libgcc_eh.a` is missing, because then we leave the search path alone.

use std::env;
use std::fs;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let target = env::var("TARGET").unwrap_or_default();
    if !target.ends_with("-linux-gnu") {
        return;
    }
    // crt-static builds already link the unwinder statically.
    if env::var("CARGO_CFG_TARGET_FEATURE").is_ok_and(|f| f.split(',').any(|f| f == "crt-static")) {
        return;
    }
    if !c_compiler_has("libgcc_eh.a") {
        println!("cargo:warning=libgcc_eh.a not found; subnet-calc will load libgcc_s.so.1");
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
