//! Token files (the admin token, an approver's token, the cluster secret): one line, read with
//! surrounding white space trimmed. A file with more than one non-empty line is refused, so a
//! token saved together with the `[[approver]]` entry printed beside it is not taken whole.

/// The token in `text`, or why the file holds none.
pub(crate) fn one_line(text: &str) -> Result<&str, &'static str> {
    let token = text.trim();
    if token.is_empty() {
        return Err("is empty");
    }
    if token.lines().filter(|line| !line.trim().is_empty()).count() > 1 {
        return Err("holds more than one line; a token file holds the token alone, on one line");
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_is_a_token_and_more_is_refused() {
        assert_eq!(one_line("  s3cret \n"), Ok("s3cret"));
        assert_eq!(one_line("\n\ns3cret\r\n\n"), Ok("s3cret"));
        assert_eq!(one_line(" \n\t"), Err("is empty"));
        let pasted = "s3cret\n[[approver]]\nname = \"carol\"\n";
        assert!(one_line(pasted).unwrap_err().contains("more than one line"));
    }
}
