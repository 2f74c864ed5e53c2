fn main() { println!("strop {}", env!("CARGO_PKG_VERSION")); }
