//! User-ID localpart rules for new accounts (appendices, "User Identifiers").

use crate::api::error::{Error, Result};

/// Checks a requested username and returns the localpart to register. Upper-case letters
/// are mapped to lower case (the spec lets servers map a username onto the grammar);
/// anything else outside `[a-z0-9._=\-/+]` is refused with `M_INVALID_USERNAME`.
pub fn localpart_for(username: &str, server_name: &str) -> Result<String> {
    let localpart = username.strip_prefix('@').map_or(username, |rest| {
        rest.strip_suffix(&format!(":{server_name}"))
            .unwrap_or(rest)
    });
    let localpart = localpart.to_ascii_lowercase();
    if localpart.is_empty() {
        return Err(Error::invalid_username("User ID cannot be empty"));
    }
    if let Some(bad) = localpart.chars().find(|c| !is_user_id_char(*c)) {
        return Err(Error::invalid_username(format!(
            "User ID can only contain characters a-z, 0-9, or '=_-./+' (found {bad:?})"
        )));
    }
    // The whole ID, `@localpart:server_name`, must fit in 255 bytes.
    if localpart.len() + server_name.len() + 2 > 255 {
        return Err(Error::invalid_username("User ID is longer than 255 bytes"));
    }
    Ok(localpart)
}

fn is_user_id_char(c: char) -> bool {
    matches!(c, 'a'..='z' | '0'..='9' | '-' | '.' | '=' | '_' | '/' | '+')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_spec_grammar_and_maps_case() {
        assert_eq!(
            localpart_for("alice.b_c=d-e/f+g", "x").unwrap(),
            "alice.b_c=d-e/f+g"
        );
        assert_eq!(localpart_for("Alice", "x").unwrap(), "alice");
        assert_eq!(localpart_for("@bob:x", "x").unwrap(), "bob");
    }

    #[test]
    fn refuses_other_characters_and_length() {
        for bad in ["", "al ice", "al:ice", "élise", "a#b"] {
            assert_eq!(
                localpart_for(bad, "x").unwrap_err().errcode(),
                "M_INVALID_USERNAME",
                "{bad}"
            );
        }
        assert!(localpart_for(&"a".repeat(260), "x").is_err());
    }
}
