//! Bad arguments to `#[tracelite::trace]` are compile errors that point at
//! the offending token (trybuild; the expected messages are in tests/ui/).
#![cfg(feature = "macros")]

#[test]
fn bad_arguments_are_pointed_at() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
