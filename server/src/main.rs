fn main() { println!("strop-server {}", env!("CARGO_PKG_VERSION")); }
