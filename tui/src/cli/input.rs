//! What the commands read from the person: usernames, passwords, text.

use std::io::{BufRead, IsTerminal, Read, Write};

use secrecy::SecretString;

use super::CliError;

/// The username from the arguments, else asked for on a terminal.
pub(super) fn username(given: Option<String>, command: &str) -> Result<String, CliError> {
    if let Some(user) = given.filter(|u| !u.is_empty()) {
        return Ok(user);
    }
    let stdin = std::io::stdin();
    if !stdin.is_terminal() || !std::io::stderr().is_terminal() {
        return Err(CliError::Usage(format!(
            "Name the user: strop {command} USER."
        )));
    }
    eprint!("Username: ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .map_err(|e| CliError::Other(format!("Cannot read the username: {e}.")))?;
    let user = line.trim().to_string();
    if user.is_empty() {
        return Err(CliError::Usage("The username is empty.".into()));
    }
    Ok(user)
}

/// The password: all of stdin (minus one trailing newline) with
/// `--password-stdin`, else a masked prompt on the terminal. `confirm` asks
/// twice (for a new account).
pub(super) fn password(from_stdin: bool, confirm: bool) -> Result<SecretString, CliError> {
    let password = if from_stdin {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text).map_err(|_| {
            CliError::Usage("Standard input is not a readable UTF-8 password.".into())
        })?;
        strip_one_newline(text)
    } else {
        let first = prompt_password("Password: ")?;
        if confirm {
            let again = prompt_password("Repeat the password: ")?;
            if again != first {
                return Err(CliError::Usage("The passwords do not match.".into()));
            }
        }
        first
    };
    if password.is_empty() {
        return Err(CliError::Usage("The password is empty.".into()));
    }
    Ok(password.into())
}

pub(super) fn prompt_password(label: &str) -> Result<String, CliError> {
    let no_terminal = || {
        CliError::Usage(
            "Cannot prompt for a password without a terminal; pipe it in with --password-stdin."
                .into(),
        )
    };
    // With stdin redirected this is a script: a prompt on the controlling
    // terminal (where rpassword reads) would hang it, so ask for the flag.
    if !std::io::stdin().is_terminal() {
        return Err(no_terminal());
    }
    rpassword::prompt_password(label).map_err(|_| no_terminal())
}

/// The text to operate on: "-" alone reads stdin, else the words joined by
/// single spaces.
pub(super) fn text(words: Vec<String>) -> Result<String, CliError> {
    if words.len() == 1 && words[0] == "-" {
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .map_err(|e| CliError::Other(format!("Cannot read standard input: {e}.")))?;
        let text = String::from_utf8(bytes)
            .map_err(|_| CliError::Usage("Standard input is not valid UTF-8.".into()))?;
        return not_empty(strip_one_newline(text));
    }
    not_empty(words.join(" "))
}

/// The rules the TUI follows too (`run_input::refusal`): not empty
/// (`client::EMPTY_INPUT`), and within the server's body limit, so an
/// oversized stdin is refused here rather than sent.
fn not_empty(text: String) -> Result<String, CliError> {
    match crate::run_input::refusal(&text) {
        Some(why) => Err(CliError::Usage(why)),
        None => Ok(text),
    }
}

/// `echo text |` adds a newline nobody meant as input; drop exactly one.
fn strip_one_newline(mut text: String) -> String {
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_trailing_newline_is_dropped() {
        assert_eq!(strip_one_newline("a\n".into()), "a");
        assert_eq!(strip_one_newline("a\r\n".into()), "a");
        assert_eq!(strip_one_newline("a\n\n".into()), "a\n");
        assert_eq!(strip_one_newline("a".into()), "a");
        assert_eq!(strip_one_newline(String::new()), "");
    }

    #[test]
    fn words_join_with_single_spaces() {
        assert_eq!(
            text(vec!["This".into(), "is".into(), "it".into()]).unwrap(),
            "This is it"
        );
        // The empty-input rule (issue 17, 8): refused, with the TUI's sentence.
        let err = text(vec!["".into()]).unwrap_err();
        assert!(
            err.to_string().contains(crate::client::EMPTY_INPUT),
            "{err}"
        );
        assert!(text(vec![" ".into(), "".into()]).is_err());
    }
}
