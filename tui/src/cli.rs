//! The command line: clap definitions and the scripting commands
//! (`strop register|login|logout|whoami|reverse|piglatin|history`).
//!
//! Every command prints its result on stdout and, on failure, exactly one line
//! `strop: <sentence>` on stderr with an exit code from [`exit`].

mod account;
mod delete;
mod errors;
mod follow;
mod history_table;
mod input;

use std::io::{IsTerminal, Write};

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};
use secrecy::{ExposeSecret, SecretString};
use strop_common::api::{
    Function, HistoryQuery, HistoryResponse, MAX_HISTORY_LIMIT, StropResponse, WhoAmIResponse,
};

use crate::client::{Client, ClientError};
use crate::local_time::{Clock, Zone};
use crate::session::{CredentialsMode, Granted, Launch, TokenSource};
use crate::settings::{self, Choices, Settings, Theme};
use crate::token_store::TokenStore;

use history_table::Layout;

pub use errors::{CliError, ParseFailure, exit};

/// `strop --version`: the build's `STROP_VERSION` if set, else the crate's.
pub use strop_common::VERSION;

/// `strop` alone, with no terminal to draw on.
pub const NO_TERMINAL: &str = "strop needs a terminal for the interactive client; use a subcommand (strop --help) in scripts.";

const AFTER_HELP: &str = "\
Without a command, strop opens the interactive terminal client.

Server: --server, else STROP_SERVER, else the last server logged in to, else
http://127.0.0.1:5000. Token: STROP_TOKEN, else the OS keyring entry saved by
`strop login` (on Linux the Secret Service when the session bus offers one,
else the kernel keyring; STROP_KEYRING=kernel or =secret-service forces one).

Times are shown as 2026-11-30 21:05:03 +09:00 in the zone of --tz, else the
settings' tz, else local (the TZ variable, else the system's zone); --json
keeps the server's UTC timestamp. `strop history` prints aligned columns on a
terminal and, in a pipe, one line per entry: TIME, FUNCTION, INPUT, OUTPUT
separated by tabs (tabs and newlines in a cell written as \\t and \\n).

Settings: settings.toml in the platform config directory (~/.config/strop on
Linux; STROP_CONFIG_DIR overrides it), written with every key documented the
first time strop saves it. Flags win over the file; a missing key takes its
default:
  tz = \"local\"          # local, UTC, an offset like \"+05:30\", or \"Asia/Tokyo\"
  times = \"absolute\"    # relative: the TUI's history list says \"5m ago\" (F4)
  mouse = true          # false: leave the mouse to the terminal (--no-mouse)
  theme = \"default\"     # default, no-color, high-contrast (--theme); without
                        #   this key NO_COLOR selects no-color
  server = \"...\"        # kept by strop: the last server logged in to,
  last_user = \"...\"     #   the last user there,
  function = \"reverse\"  #   the function last used in the interactive client
An unknown key or a bad value is reported (file:line) on each run and that key
takes its default; the command goes on.

Completions and manual: `strop completions bash|zsh|fish|elvish|powershell`,
`strop man | man -l -`.

Exit codes:
  0  success
  1  failure (server or keyring error, taken username, bad input, ...)
  2  usage error (unknown option, missing argument, bad value, or a request
     too long to send, e.g. a huge --search)
  3  authentication: wrong username or password, not logged in, or the
     session expired or was revoked
  4  the server cannot be reached or did not answer in time; also `logout`
     when the server could not be told (the token is forgotten here anyway;
     1 when the server answered with an error instead)";

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
    /// Time zone for the times shown: local (TZ, else the system's), UTC, an
    /// offset like +05:30, or a name like Asia/Tokyo [default: the settings'
    /// tz, else local].
    #[arg(long, global = true, value_name = "ZONE")]
    pub tz: Option<Zone>,
    /// Leave the mouse to the terminal (to select text) instead of using it
    /// to scroll and select in the interactive client.
    #[arg(long, global = true)]
    pub no_mouse: bool,
    /// Colours of the interactive client [default: the settings' theme, else
    /// no-color when NO_COLOR is set, else default].
    #[arg(long, global = true, value_enum, value_name = "THEME")]
    pub theme: Option<Theme>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

impl Cli {
    /// The display choices in force: these flags, then `settings`, then
    /// `NO_COLOR`, then the defaults.
    pub fn choices(&self, settings: &Settings) -> Choices {
        Choices::resolve(
            settings,
            self.tz.clone(),
            self.no_mouse,
            self.theme,
            settings::no_color_env(),
        )
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    #[command(flatten)]
    Remote(RemoteCommand),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    ///
    /// For example `strop completions bash >
    /// ~/.local/share/bash-completion/completions/strop`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff): `strop man | man -l -`.
    Man,
}

/// The commands that talk to a server.
#[derive(Debug, Subcommand)]
pub enum RemoteCommand {
    /// Create an account on the server.
    Register(PasswordArgs),
    /// Log in and keep the token in the OS keyring.
    Login(LoginArgs),
    /// Forget the token here (keyring) and revoke it on the server.
    ///
    /// When the server cannot be told, the token is forgotten here all the
    /// same and the exit code is 4 (1 if the server answered with an error).
    Logout,
    /// Print the user the current token belongs to.
    Whoami(JsonFlag),
    /// Reverse TEXT (by grapheme clusters); "-" reads standard input.
    Reverse(TextArgs),
    /// Translate TEXT to pig latin; "-" reads standard input.
    Piglatin(TextArgs),
    /// Show your history: time, function, input, output (oldest first);
    /// `strop history delete ID…` deletes entries, `--all` every one.
    History(HistoryArgs),
    /// List your sessions (logins, never their tokens); `strop sessions
    /// revoke ID` logs one out, `strop sessions revoke --others` every one
    /// but this.
    Sessions(account::SessionsArgs),
    /// Change your password (asked twice); every other session is logged out.
    Password(account::PasswordChangeArgs),
    /// Your account: `strop account delete` deletes it, its history and its
    /// sessions, after you type your username to confirm.
    Account(account::AccountArgs),
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
#[command(args_conflicts_with_subcommands = true)]
pub struct HistoryArgs {
    #[command(subcommand)]
    pub action: Option<delete::HistoryAction>,
    /// Only the newest N entries (1-1000).
    #[arg(long, short = 'n', value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_HISTORY_LIMIT)))]
    pub limit: Option<u32>,
    /// Only entries of this function.
    #[arg(long, short = 'f', value_enum, value_name = "FUNCTION")]
    pub function: Option<FunctionArg>,
    /// Only entries whose input or output contains Q (any case); `-q`, as
    /// the API names it, works too.
    #[arg(long, short = 's', short_alias = 'q', value_name = "Q")]
    pub search: Option<String>,
    /// Only entries older than the entry with this id (paging).
    #[arg(long, value_name = "ID", conflicts_with = "follow")]
    pub before: Option<i64>,
    /// Write every entry as NDJSON (one JSON object per line, oldest first)
    /// on stdout: `strop history --export > file.ndjson`.
    #[arg(long, conflicts_with_all = ["limit", "function", "search", "before", "follow", "import", "json"])]
    pub export: bool,
    /// Run every entry of an export FILE ("-": stdin) again on this account.
    /// Each entry carries a key derived from it, so importing the same file
    /// twice (within a day) writes each entry once.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["limit", "function", "search", "before", "follow", "json"])]
    pub import: Option<String>,
    /// Keep going: after the history, print each new entry as it is made
    /// (here or anywhere else), one line each (with --json one JSON object
    /// per line), until Ctrl+C. Reconnects by itself; exits 4 when the
    /// server stays unreachable for 20 seconds.
    #[arg(long, short = 'F')]
    pub follow: bool,
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
    match command {
        Command::Completions { shell } => completions(shell),
        Command::Man => man(),
        Command::Remote(command) => remote(cli, command).await,
    }
}

/// The commands that talk to a server.
async fn remote(cli: Cli, command: RemoteCommand) -> Result<(), CliError> {
    let launch = Launch::new(cli.server.clone(), cli.user.clone());
    if let Some(problem) = &launch.settings_error {
        // Once, and the command goes on with the defaults for what was bad.
        eprintln!("strop: warning: {problem}");
    }
    let choices = cli.choices(&launch.settings);
    let (server, _) = launch.server()?;
    let client = Client::new(&server)?;
    match command {
        RemoteCommand::Register(args) => {
            credentials(&launch, &client, CredentialsMode::Register, args, false).await
        }
        RemoteCommand::Login(args) => {
            let print_token = args.print_token;
            credentials(
                &launch,
                &client,
                CredentialsMode::Login,
                args.password,
                print_token,
            )
            .await
        }
        RemoteCommand::Logout => logout(&launch, &client).await,
        RemoteCommand::Whoami(json) => {
            let authed = authed(&launch, &client).await?;
            let me: WhoAmIResponse = authed.call(authed.client.whoami_full()).await?;
            if json.json {
                print_json(&me)
            } else if let Some(expires) = me
                .expires
                .as_deref()
                .filter(|_| std::io::IsTerminal::is_terminal(&std::io::stdout()))
            {
                // A person reads when the login ends; a pipe gets the name alone.
                let clock = Clock::new(&choices.zone);
                print_line(&format!(
                    "{} (the token expires {})",
                    me.user,
                    clock.show(expires)
                ))
            } else {
                print_line(&me.user)
            }
        }
        RemoteCommand::Reverse(args) => strop(&launch, &client, Function::Reverse, args).await,
        RemoteCommand::Piglatin(args) => strop(&launch, &client, Function::Piglatin, args).await,
        RemoteCommand::History(HistoryArgs {
            action: Some(action),
            ..
        }) => {
            let server = client.server().to_string();
            delete::run(&authed(&launch, &client).await?, &server, action).await
        }
        RemoteCommand::History(args) if args.export => {
            account::export(&authed(&launch, &client).await?).await
        }
        RemoteCommand::History(HistoryArgs {
            import: Some(file), ..
        }) => account::import(&authed(&launch, &client).await?, &file).await,
        RemoteCommand::History(args) => history(&launch, &client, &choices, args).await,
        RemoteCommand::Sessions(args) => {
            let clock = Clock::new(&choices.zone);
            account::sessions(&authed(&launch, &client).await?, args, &clock).await
        }
        RemoteCommand::Password(args) => {
            account::password(&authed(&launch, &client).await?, args).await
        }
        RemoteCommand::Account(args) => {
            let server = client.server().to_string();
            account::account(&authed(&launch, &client).await?, &server, args).await
        }
    }
}

fn completions(shell: clap_complete::Shell) -> Result<(), CliError> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "strop", &mut script);
    emit(&String::from_utf8_lossy(&script))
}

fn man() -> Result<(), CliError> {
    let man = clap_mangen::Man::new(Cli::command());
    let mut page = Vec::new();
    let sections = (|| {
        man.render_title(&mut page)?;
        man.render_name_section(&mut page)?;
        // clap_mangen's synopsis drops value names ("[--tz]"): ours keeps them.
        page.extend_from_slice(synopsis_roff(&Cli::command()).as_bytes());
        man.render_description_section(&mut page)?;
        man.render_options_section(&mut page)?;
        // Every subcommand on this page (issue 17: the page named
        // strop-register(1) and others that do not exist).
        page.extend_from_slice(subcommands_roff(&Cli::command()).as_bytes());
        // The TUI's keys, from the table the help overlay shows.
        page.extend_from_slice(keys_roff().as_bytes());
        page.extend_from_slice(environment_roff().as_bytes());
        // The --help epilogue is laid out by hand (aligned lists, an example
        // file): keep its lines as they are instead of letting roff refill them.
        page.extend_from_slice(b".SH DETAILS\n.nf\n");
        page.extend_from_slice(roff_verbatim(AFTER_HELP).as_bytes());
        page.extend_from_slice(b".fi\n");
        man.render_version_section(&mut page)
    })();
    sections.map_err(|e| CliError::Other(format!("Cannot render the manual page: {e}.")))?;
    emit(&String::from_utf8_lossy(&page))
}

/// Text for a roff line: backslashes and dashes escaped, no leading dot
/// or quote read as a request.
fn roff_text(text: &str) -> String {
    format!("\\&{}", text.replace('\\', "\\e").replace('-', "\\-"))
}

/// `.SH SYNOPSIS`: `strop [--server URL] [-u|--user USER] … [COMMAND]`.
fn synopsis_roff(cli: &clap::Command) -> String {
    let mut out = String::from(".SH SYNOPSIS\n\\fBstrop\\fR");
    for arg in cli.get_arguments().filter(|a| !a.is_hide_set()) {
        let Some(long) = arg.get_long() else { continue };
        let mut names = String::new();
        if let Some(short) = arg.get_short() {
            names.push_str(&format!("\\fB\\-{short}\\fR|"));
        }
        names.push_str(&format!("\\fB\\-\\-{long}\\fR"));
        let value = match arg.get_value_names() {
            Some([name, ..]) if arg.get_action().takes_values() => format!(" \\fI{name}\\fR"),
            _ => String::new(),
        };
        out.push_str(&format!(" [{names}{value}]"));
    }
    out.push_str(" [\\fICOMMAND\\fR]\n");
    out
}

/// The environment variables strop reads, for the man page.
pub const ENVIRONMENT: &[(&str, &str)] = &[
    ("STROP_SERVER", "The server, as --server (which wins)."),
    (
        "STROP_USER",
        "The user to act as, as -u/--user (which wins).",
    ),
    (
        crate::session::TOKEN_ENV,
        "A token to use instead of the keyring's (strop login --print-token prints one).",
    ),
    (
        crate::token_store::BACKEND_ENV,
        "kernel or secret-service: the keyring to keep tokens in (default: the Secret \
         Service when the session bus offers one, else the kernel keyring).",
    ),
    (
        crate::settings::CONFIG_DIR_ENV,
        "The directory of settings.toml (default: the platform config directory, \
         ~/.config/strop on Linux).",
    ),
    (
        crate::app::runtime::OWNS_SERVER_ENV,
        "Set by ./run: its server stops when strop ends, so quitting asks first.",
    ),
    ("TZ", "The local time zone (--tz local), else the system's."),
    (
        "NO_COLOR",
        "Any value but empty: the no-color theme unless settings.toml names one.",
    ),
];

/// `.SH ENVIRONMENT`: [`ENVIRONMENT`].
fn environment_roff() -> String {
    let mut out = String::from(".SH ENVIRONMENT\n");
    for (name, what) in ENVIRONMENT {
        out.push_str(&format!(
            ".TP\n\\fB{}\\fR\n{}\n",
            roff_text(name),
            roff_text(what)
        ));
    }
    out
}

/// `.SH COMMANDS`: each subcommand with its usage, what it does and its
/// arguments and options.
fn subcommands_roff(cli: &clap::Command) -> String {
    let mut out = String::from(".SH COMMANDS\n");
    commands_roff(cli, "strop", &mut out);
    out
}

/// The subcommands of `cmd`, named from `prefix`, each followed by its own
/// (`strop history delete` after `strop history`).
fn commands_roff(cmd: &clap::Command, prefix: &str, out: &mut String) {
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        if sub.get_name() == "help" {
            continue;
        }
        let name = format!("{prefix} {}", sub.get_name());
        let mut sub = sub.clone().bin_name(name.clone());
        let usage = sub.render_usage().to_string();
        let usage = usage.trim_start_matches("Usage: ");
        let usage = usage.lines().next().unwrap_or(usage).trim();
        out.push_str(&format!(".SS {}\n", roff_text(&name)));
        out.push_str(&format!(".B {}\n", roff_text(usage)));
        if let Some(about) = sub.get_long_about().or(sub.get_about()) {
            out.push_str(&format!(".PP\n{}\n", roff_text(&about.to_string())));
        }
        for arg in sub.get_arguments().filter(|a| !a.is_hide_set()) {
            if matches!(arg.get_id().as_str(), "help" | "version") {
                continue;
            }
            let name = match (arg.get_short(), arg.get_long()) {
                (Some(s), Some(l)) => format!("-{s}, --{l}"),
                (None, Some(l)) => format!("--{l}"),
                (Some(s), None) => format!("-{s}"),
                (None, None) => arg
                    .get_value_names()
                    .and_then(|v| v.first())
                    .map_or_else(|| arg.get_id().to_string(), |v| v.to_string()),
            };
            let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
            out.push_str(&format!(
                ".TP\n{}\n{}\n",
                roff_text(&name),
                roff_text(&help)
            ));
        }
        commands_roff(&sub, &name, out);
    }
}

/// `.SH KEYS`: the interactive client's key table, as its help lists it.
fn keys_roff() -> String {
    use crate::app::keymap::{KEYMAP, key_list};
    let mut out = String::from(
        ".SH KEYS\nWithout a command, strop opens the interactive client; F1 there shows \
         this table.\n",
    );
    let mut seen = Vec::new();
    for b in KEYMAP {
        if seen.contains(&b.context) {
            continue;
        }
        seen.push(b.context);
        out.push_str(&format!(".SS {}\n", roff_text(b.context.title())));
        for k in KEYMAP.iter().filter(|k| k.context == b.context) {
            out.push_str(&format!(
                ".TP\n{}\n{}\n",
                roff_text(&key_list(k)),
                roff_text(k.help)
            ));
        }
    }
    out
}

/// Plain text as roff lines shown as written: backslashes and dashes
/// escaped, no line read as a request.
fn roff_verbatim(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        out.push_str("\\&");
        out.push_str(&line.replace('\\', "\\e").replace('-', "\\-"));
        out.push('\n');
    }
    out
}

/// `strop register` and `strop login`: one path, by `mode`.
async fn credentials(
    launch: &Launch,
    client: &Client,
    mode: CredentialsMode,
    args: PasswordArgs,
    print_token: bool,
) -> Result<(), CliError> {
    let server = client.server().to_string();
    let default_user = match mode {
        CredentialsMode::Register => launch.user_arg.clone(),
        CredentialsMode::Login => launch.user_for(&server),
    };
    let user = input::username(args.username.or(default_user), mode.command())?;
    // A new password is asked twice.
    let password = input::password(args.password_stdin, mode == CredentialsMode::Register)?;
    match crate::session::send_credentials(client, mode, &user, &password).await? {
        Granted::Registered(message) => print_line(&message),
        // Asked for: the token goes to stdout, for a script to keep.
        Granted::Token(token) if print_token => print_line(token.expose_secret()),
        Granted::Token(token) => keep_login(client, server, user, token).await,
    }
}

/// After a login: the token into the keyring, the replaced one revoked,
/// the server and user remembered.
async fn keep_login(
    client: &Client,
    server: String,
    user: String,
    token: SecretString,
) -> Result<(), CliError> {
    let saved = {
        let (server, user, token) = (server.clone(), user.clone(), token.clone());
        blocking(move || {
            let store = TokenStore::open()?;
            let replaced = crate::session::store_token(&store, &server, &user, &token)?;
            Ok::<_, CliError>((store.backend(), replaced))
        })
        .await
    };
    let (backend, replaced) = match saved {
        Ok(saved) => saved,
        Err(e) => {
            // Nobody can use a token we could not keep: revoke it.
            let _ = client.with_token(Some(token)).logout().await;
            return Err(e);
        }
    };
    // The session rules: the replaced token is revoked; a TUI still using
    // it picks this one up from the keyring.
    crate::session::revoke_replaced(client, replaced).await;

    let remembered = {
        let (server, user) = (server.clone(), user.clone());
        blocking(move || {
            Settings::update(|s| {
                s.server = Some(server);
                s.last_user = Some(user);
            })
            .map_err(CliError::from)
        })
        .await
    };
    if let Err(e) = remembered {
        // The login itself worked and the token is kept: say what is not.
        eprintln!("strop: warning: {e} Until then, name the user with -u {user}.");
    }
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
    let told = match client.with_token(Some(token)).logout().await {
        // Already expired or revoked: the keyring entry is stale either way.
        Err(e) if e.is_auth_failure() => Ok(()),
        told => told,
    };
    // Forget the token here whatever the server said: a person who logs out
    // must not stay logged in on this machine because the server was down.
    if let (TokenSource::Keyring, Some(user)) = (source, user) {
        blocking(move || {
            Ok(crate::session::forget_token(
                &TokenStore::open()?,
                &server,
                &user,
            )?)
        })
        .await?;
    }
    match told {
        Ok(()) => print_line("Logged out."),
        Err(e) => Err(CliError::ServerNotTold {
            forgotten: source == TokenSource::Keyring,
            cause: e,
        }),
    }
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

async fn history(
    launch: &Launch,
    client: &Client,
    choices: &Choices,
    args: HistoryArgs,
) -> Result<(), CliError> {
    let query = HistoryQuery {
        before: args.before,
        function: args.function.map(Function::from),
        limit: args.limit,
        q: args.search.filter(|q| !q.is_empty()),
    };
    let authed = authed(launch, client).await?;
    let page = authed.call(authed.client.history(&query)).await?;
    let clock = Clock::new(&choices.zone);
    if args.follow {
        return follow_history(&authed, &query, page, clock, args.json.json).await;
    }
    if args.json.json {
        return print_json(&page);
    }
    let layout = match std::io::stdout().is_terminal() {
        true => Layout::Table {
            width: crossterm::terminal::size().map_or(80, |(w, _)| usize::from(w)),
        },
        false => Layout::Plain,
    };
    let filtered = query.function.is_some() || query.q.is_some() || query.before.is_some();
    emit(&history_table::render(
        &page.history,
        layout,
        &clock,
        filtered,
    ))?;
    if layout == Layout::Plain && page.history.is_empty() {
        // A pipe gets no rows; a person reading stderr gets why.
        eprintln!(
            "strop: no history entries{}.",
            if filtered { " match" } else { " yet" }
        );
    }
    if let Some(older) = page.older_page() {
        // A hint for people; stdout stays the entries alone.
        eprintln!("strop: older entries exist; add --before {older} to see them.");
    }
    Ok(())
}

/// `history --follow`: the page as lines, then the live entries after the
/// newest entry there is.
async fn follow_history(
    authed: &Authed,
    query: &HistoryQuery,
    page: HistoryResponse,
    clock: Clock,
    json: bool,
) -> Result<(), CliError> {
    let format = match json {
        true => follow::Format::Json,
        false => follow::Format::Plain(clock),
    };
    for entry in &page.history {
        if !write_out(&format.line(entry)?)? {
            return Ok(());
        }
    }
    let filter = follow::Filter::new(query.function, query.q.as_deref());
    // Resume after the newest entry of all, not the newest that matched, so
    // the stream does not replay what the filter already passed over.
    let newest = if query.function.is_none() && query.q.is_none() {
        page.history.last().map(|e| e.id)
    } else {
        let newest = HistoryQuery {
            limit: Some(1),
            ..HistoryQuery::default()
        };
        let top = authed.call(authed.client.history(&newest)).await?;
        top.history.last().map(|e| e.id)
    };
    // 0: no entries yet, so every entry the stream has is new.
    // A keyring token refused mid-stream may have been replaced by a
    // login of the same user here: follow on with that one.
    let keyring = match (authed.source, &authed.user) {
        (TokenSource::Keyring, Some(user)) => Some(follow::Keyring {
            server: authed.client.server().to_string(),
            user: user.clone(),
        }),
        _ => None,
    };
    follow::follow(
        &authed.client,
        keyring.as_ref(),
        newest.unwrap_or(0),
        &filter,
        &format,
    )
    .await
    .map_err(|e| authed.refusal(e))
}

/// A client carrying a token, and where that token came from (to word a
/// refusal: a stale keyring login and a bad STROP_TOKEN need different fixes).
struct Authed {
    client: Client,
    source: TokenSource,
    /// Whose keyring token it is (a refused one may have a successor).
    user: Option<String>,
}

impl Authed {
    async fn call<T>(
        &self,
        request: impl std::future::Future<Output = Result<T, ClientError>>,
    ) -> Result<T, CliError> {
        request.await.map_err(|e| self.refusal(e.into()))
    }

    /// A refused STROP_TOKEN needs its own fix: say so.
    fn refusal(&self, e: CliError) -> CliError {
        match (self.source, &e) {
            (TokenSource::Env, CliError::Client(c)) if c.is_auth_failure() => {
                CliError::EnvTokenRefused
            }
            _ => e,
        }
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
            user,
        }),
        // No token: first make sure "not logged in" is the whole story, so a
        // server that is down reads as down (exit 4), not as a login to fix.
        None => match client.health().await {
            Err(e) if e.is_unreachable() => Err(e.into()),
            _ => Err(CliError::NotLoggedIn { server, user }),
        },
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
    write_out(text).map(|_| ())
}

/// Writes to stdout and flushes; `false` when the reader has gone (a closed
/// pipe), which ends `--follow` quietly.
fn write_out(text: &str) -> Result<bool, CliError> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(CliError::Other(format!(
            "Cannot write the output: {}.",
            crate::settings::io_reason(&e)
        ))),
    }
}
