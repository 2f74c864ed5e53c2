//! The command line: clap definitions and the scripting commands
//! (`strop register|login|logout|whoami|reverse|piglatin|history`).
//!
//! Every command prints its result on stdout and, on failure, exactly one line
//! `strop: <sentence>` on stderr with an exit code from [`exit`].

mod errors;
mod history_table;
mod input;

use std::io::{IsTerminal, Write};

use clap::{Args, Parser, Subcommand, ValueEnum};
use strop_common::api::{Function, HistoryQuery, MAX_HISTORY_LIMIT, StropResponse, WhoAmIResponse};

use crate::client::{Client, ClientError};
use crate::session::{Launch, TokenSource};
use crate::token_store::TokenStore;

pub use errors::{CliError, ParseFailure, exit};

/// `strop --version`: the build's `STROP_VERSION` if set, else the crate's.
pub use strop_common::VERSION;

const AFTER_HELP: &str = "\
Without a command, strop opens the interactive terminal client.

Server: --server, else STROP_SERVER, else the last server logged in to, else
http://127.0.0.1:5000. Token: STROP_TOKEN, else the OS keyring entry saved by
`strop login` (on Linux the Secret Service when the session bus offers one,
else the kernel keyring; STROP_KEYRING=kernel or =secret-service forces one).
Settings live in the platform config directory (STROP_CONFIG_DIR overrides it).

Exit codes:
  0  success
  1  failure (server or keyring error, taken username, bad input, ...)
  2  usage error (unknown option, missing argument, bad value)
  3  authentication: wrong username or password, not logged in, or the
     session expired or was revoked
  4  the server cannot be reached or did not answer in time";

#[derive(Debug, Parser)]
#[command(
    name = "strop",
    version = VERSION,
    about = "strop: reverse and pig-latin strings on a strop server, with a history of it all.",
    after_help = AFTER_HELP
)]
pub struct Cli {
    /// Server address, "host:port" or "http(s)://...".
    #[arg(long, global = true, env = "STROP_SERVER", value_name = "URL")]
    pub server: Option<String>,
    /// User to act as (default: the last user logged in to the server).
    #[arg(
        long,
        short = 'u',
        global = true,
        env = "STROP_USER",
        value_name = "USER"
    )]
    pub user: Option<String>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create an account on the server.
    Register(PasswordArgs),
    /// Log in and keep the token in the OS keyring.
    Login(LoginArgs),
    /// Revoke the token on the server and delete it from the keyring.
    Logout,
    /// Print the user the current token belongs to.
    Whoami(JsonFlag),
    /// Reverse TEXT (by grapheme clusters); "-" reads standard input.
    Reverse(TextArgs),
    /// Translate TEXT to pig latin; "-" reads standard input.
    Piglatin(TextArgs),
    /// Show your history: time, function, input, output (oldest first).
    History(HistoryArgs),
}

#[derive(Debug, Args)]
pub struct PasswordArgs {
    /// Username (default: --user; for login, then the last user of this
    /// server; else asked for on a terminal).
    pub username: Option<String>,
    /// Read the password from standard input instead of prompting.
    #[arg(long)]
    pub password_stdin: bool,
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    #[command(flatten)]
    pub password: PasswordArgs,
    /// Print the token on stdout instead of saving it in the keyring
    /// (for STROP_TOKEN on machines without a keyring).
    #[arg(long)]
    pub print_token: bool,
}

#[derive(Debug, Args)]
pub struct JsonFlag {
    /// Print JSON (the API's response body) instead of plain text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct TextArgs {
    /// The text; several words are joined by single spaces. "-" alone reads
    /// standard input (one trailing newline is dropped).
    #[arg(required = true, value_name = "TEXT")]
    pub text: Vec<String>,
    #[command(flatten)]
    pub json: JsonFlag,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FunctionArg {
    Reverse,
    Piglatin,
}

impl From<FunctionArg> for Function {
    fn from(f: FunctionArg) -> Function {
        match f {
            FunctionArg::Reverse => Function::Reverse,
            FunctionArg::Piglatin => Function::Piglatin,
        }
    }
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Only the newest N entries (1-1000).
    #[arg(long, short = 'n', value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_HISTORY_LIMIT)))]
    pub limit: Option<u32>,
    /// Only entries of this function.
    #[arg(long, short = 'f', value_enum, value_name = "FUNCTION")]
    pub function: Option<FunctionArg>,
    /// Only entries whose input or output contains Q (any case).
    #[arg(long, short = 's', value_name = "Q")]
    pub search: Option<String>,
    /// Only entries older than the entry with this id (paging).
    #[arg(long, value_name = "ID")]
    pub before: Option<i64>,
    #[command(flatten)]
    pub json: JsonFlag,
}

/// Parses the command line. On failure it has already printed: help and
/// version as clap renders them (exit 0), a usage error as one line
/// `strop: ...` on stderr (exit 2); the `Err` is the exit code.
pub fn parse() -> Result<Cli, u8> {
    Cli::try_parse().map_err(|e| match errors::clap_failure(e) {
        ParseFailure::Show(e) => match e.print() {
            Ok(()) => exit::OK,
            Err(_) => exit::FAILURE,
        },
        ParseFailure::Usage(line) => {
            eprintln!("{line}");
            exit::USAGE
        }
    })
}

/// Runs one scripting command.
pub async fn execute(cli: Cli, command: Command) -> Result<(), CliError> {
    let launch = Launch::new(cli.server, cli.user);
    let (server, _) = launch.server()?;
    let client = Client::new(&server)?;
    match command {
        Command::Register(args) => register(&launch, &client, args).await,
        Command::Login(args) => login(&launch, &client, args).await,
        Command::Logout => logout(&launch, &client).await,
        Command::Whoami(json) => {
            let authed = authed(&launch, &client).await?;
            let user = authed.call(authed.client.whoami()).await?;
            if json.json {
                print_json(&WhoAmIResponse { user })
            } else {
                print_line(&user)
            }
        }
        Command::Reverse(args) => strop(&launch, &client, Function::Reverse, args).await,
        Command::Piglatin(args) => strop(&launch, &client, Function::Piglatin, args).await,
        Command::History(args) => history(&launch, &client, args).await,
    }
}

async fn register(launch: &Launch, client: &Client, args: PasswordArgs) -> Result<(), CliError> {
    let user = input::username(
        args.username.or_else(|| launch.user_arg.clone()),
        "register",
    )?;
    let password = input::password(args.password_stdin, true)?;
    let message = client.register(&user, &password).await?;
    print_line(&message)
}

async fn login(launch: &Launch, client: &Client, args: LoginArgs) -> Result<(), CliError> {
    let server = client.server().to_string();
    let user = input::username(
        args.password.username.or_else(|| launch.user_for(&server)),
        "login",
    )?;
    let password = input::password(args.password.password_stdin, false)?;
    let token = client.authenticate(&user, &password).await?;
    if args.print_token {
        return print_line(&token);
    }

    let saved = {
        let (server, user, token) = (server.clone(), user.clone(), token.clone());
        blocking(move || {
            let store = TokenStore::open()?;
            let previous = store.get(&server, &user)?;
            store.set(&server, &user, &token)?;
            Ok::<_, CliError>((store.backend(), previous))
        })
        .await
    };
    let (backend, previous) = match saved {
        Ok(saved) => saved,
        Err(e) => {
            // Nobody can use a token we could not keep: revoke it.
            let _ = client.with_token(Some(token)).logout().await;
            return Err(e);
        }
    };
    // The replaced token would otherwise stay valid until it expires.
    if let Some(old) = previous.filter(|old| *old != token) {
        let _ = client.with_token(Some(old)).logout().await;
    }

    let mut settings = launch.settings.clone();
    settings.server = Some(server.clone());
    settings.last_user = Some(user.clone());
    blocking(move || settings.save().map_err(CliError::from)).await?;
    print_line(&format!(
        "Logged in to {server} as {user}; the token is in the {backend}."
    ))
}

async fn logout(launch: &Launch, client: &Client) -> Result<(), CliError> {
    let server = client.server().to_string();
    let user = launch.user_for(&server);
    let found = {
        let (launch, server, user) = (launch.clone(), server.clone(), user.clone());
        blocking(move || Ok(launch.token_for(&server, user.as_deref())?)).await?
    };
    let Some((token, source)) = found else {
        return print_line(&format!("Not logged in to {server}; nothing to do."));
    };
    match client.with_token(Some(token)).logout().await {
        Ok(()) => {}
        // Already expired or revoked: the keyring entry is stale either way.
        Err(e) if e.is_auth_failure() => {}
        Err(e) => return Err(e.into()),
    }
    if let (TokenSource::Keyring, Some(user)) = (source, user) {
        blocking(move || Ok(TokenStore::open()?.delete(&server, &user)?)).await?;
    }
    print_line("Logged out.")
}

async fn strop(
    launch: &Launch,
    client: &Client,
    function: Function,
    args: TextArgs,
) -> Result<(), CliError> {
    let text = input::text(args.text)?;
    let authed = authed(launch, client).await?;
    let output = authed.call(authed.client.run(function, &text)).await?;
    if args.json.json {
        print_json(&StropResponse { output })
    } else {
        print_line(&output)
    }
}

async fn history(launch: &Launch, client: &Client, args: HistoryArgs) -> Result<(), CliError> {
    let query = HistoryQuery {
        before: args.before,
        function: args.function.map(Function::from),
        limit: args.limit,
        q: args.search.filter(|q| !q.is_empty()),
    };
    let authed = authed(launch, client).await?;
    let page = authed.call(authed.client.history(&query)).await?;
    if args.json.json {
        return print_json(&page);
    }
    let stdout = std::io::stdout();
    let width = if stdout.is_terminal() {
        crossterm::terminal::size()
            .ok()
            .map(|(w, _)| usize::from(w))
    } else {
        None
    };
    let filtered = query.function.is_some() || query.q.is_some() || query.before.is_some();
    emit(&history_table::render(&page.history, width, filtered))?;
    if let Some(older) = page.older_page() {
        // A hint for people; stdout stays the table alone.
        eprintln!("strop: older entries exist; add --before {older} to see them.");
    }
    Ok(())
}

/// A client carrying a token, and where that token came from (to word a
/// refusal: a stale keyring login and a bad STROP_TOKEN need different fixes).
struct Authed {
    client: Client,
    source: TokenSource,
}

impl Authed {
    async fn call<T>(
        &self,
        request: impl std::future::Future<Output = Result<T, ClientError>>,
    ) -> Result<T, CliError> {
        request
            .await
            .map_err(|e| match (self.source, e.is_auth_failure()) {
                (TokenSource::Env, true) => CliError::EnvTokenRefused,
                _ => CliError::from(e),
            })
    }
}

async fn authed(launch: &Launch, client: &Client) -> Result<Authed, CliError> {
    let server = client.server().to_string();
    let user = launch.user_for(&server);
    let found = {
        let (launch, server, user) = (launch.clone(), server.clone(), user.clone());
        blocking(move || Ok(launch.token_for(&server, user.as_deref())?)).await?
    };
    match found {
        Some((token, source)) => Ok(Authed {
            client: client.with_token(Some(token)),
            source,
        }),
        None => Err(CliError::NotLoggedIn { server, user }),
    }
}

/// Keyring and settings calls block; keep them off the async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, CliError> + Send + 'static,
) -> Result<T, CliError> {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|_| {
        Err(CliError::Other(
            "A background task failed unexpectedly.".into(),
        ))
    })
}

fn print_json<T: serde::Serialize>(value: &T) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| CliError::Other(format!("Cannot format the answer as JSON: {e}.")))?;
    print_line(&text)
}

fn print_line(line: &str) -> Result<(), CliError> {
    emit(&format!("{line}\n"))
}

/// Writes to stdout; a closed pipe (`strop history | head`) is not a failure.
fn emit(text: &str) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(CliError::Other(format!(
            "Cannot write the output: {}.",
            crate::settings::io_reason(&e)
        ))),
    }
}
