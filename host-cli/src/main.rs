//! The `genbab` command.
fn main() {
    println!("genbab");
}
