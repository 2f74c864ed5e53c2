//! Values both binaries must agree on, defined once.

/// This build's version: `STROP_VERSION` at compile time (release and image builds
/// set it), else the workspace's crate version.
pub const VERSION: &str = match option_env!("STROP_VERSION") {
    Some(v) => v,
    None => env!("CARGO_PKG_VERSION"),
};

/// The port strop-server listens on unless told otherwise (the seed's `flask run` port).
pub const DEFAULT_PORT: u16 = 5000;

/// strop-server's default listen address: loopback, [`DEFAULT_PORT`].
pub const DEFAULT_ADDR: &str = "127.0.0.1:5000";

/// The server the client talks to when nothing names one: [`DEFAULT_ADDR`] over HTTP.
pub const DEFAULT_SERVER_URL: &str = "http://127.0.0.1:5000";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_name_one_address() {
        let addr: std::net::SocketAddr = DEFAULT_ADDR.parse().unwrap();
        assert_eq!(addr.port(), DEFAULT_PORT);
        assert_eq!(DEFAULT_SERVER_URL, format!("http://{DEFAULT_ADDR}"));
    }
}
