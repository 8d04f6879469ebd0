#[tracelite::trace(nmae = "typo")]
fn f() {}

fn main() {}
