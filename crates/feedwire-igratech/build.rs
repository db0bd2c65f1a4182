//! Declares the `fuzzing` cfg that cargo-fuzz sets, so the `fuzzing` module builds under cargo fuzz too.
fn main() {
    println!("cargo::rustc-check-cfg=cfg(fuzzing)");
}
