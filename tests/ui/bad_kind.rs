#[tracelite::trace(kind = sideways)]
fn f() {}

fn main() {}
