#[tracelite::trace(err)]
fn f() -> u32 {
    1
}

fn main() {}
