//! The `multipart/mixed` bodies of federation media responses: a JSON metadata part,
//! then the media itself.

/// Builds a response body; returns `(content type header, body)`.
pub fn build(content_type: &str, disposition: Option<&str>, bytes: &[u8]) -> (String, Vec<u8>) {
    let boundary = format!("citadel{}", random_boundary());
    let mut body = Vec::with_capacity(bytes.len() + 256);
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Type: application/json\r\n\r\n{{}}\r\n").as_bytes(),
    );
    body.extend_from_slice(format!("--{boundary}\r\nContent-Type: {content_type}\r\n").as_bytes());
    if let Some(disposition) = disposition {
        body.extend_from_slice(format!("Content-Disposition: {disposition}\r\n").as_bytes());
    }
    body.extend_from_slice(b"\r\n");
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/mixed; boundary={boundary}"), body)
}

fn random_boundary() -> String {
    use rand::Rng;
    rand::thread_rng()
        .sample_iter(rand::distributions::Alphanumeric)
        .take(24)
        .map(char::from)
        .collect()
}

/// The media part of a response: `(content type, content disposition, bytes)`.
pub fn parse(content_type: &str, body: &[u8]) -> Option<(Option<String>, Option<String>, Vec<u8>)> {
    let boundary = content_type
        .split(';')
        .map(str::trim)
        .find_map(|p| p.strip_prefix("boundary="))?
        .trim_matches('"');
    let delimiter = format!("--{boundary}");
    let parts = split(body, delimiter.as_bytes());
    // parts[0] is the preamble, [1] the JSON metadata, [2] the media.
    let media = parts.get(2)?;
    let media = media.strip_prefix(b"\r\n").unwrap_or(media);
    let header_end = find(media, b"\r\n\r\n")?;
    let headers = std::str::from_utf8(&media[..header_end]).ok()?;
    let mut content = media[header_end + 4..].to_vec();
    if content.ends_with(b"\r\n") {
        content.truncate(content.len() - 2);
    }
    let header = |name: &str| {
        headers.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_owned())
        })
    };
    Some((
        header("content-type"),
        header("content-disposition"),
        content,
    ))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn split<'a>(body: &'a [u8], delimiter: &[u8]) -> Vec<&'a [u8]> {
    let mut parts = Vec::new();
    let mut rest = body;
    while let Some(at) = find(rest, delimiter) {
        parts.push(&rest[..at]);
        rest = &rest[at + delimiter.len()..];
    }
    parts.push(rest);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_binary_content() {
        let bytes: Vec<u8> = (0..=255u8).cycle().take(5000).collect();
        let (content_type, body) = build("image/png", Some("inline; filename=\"a.png\""), &bytes);
        let (kind, disposition, parsed) = parse(&content_type, &body).unwrap();
        assert_eq!(kind.as_deref(), Some("image/png"));
        assert_eq!(disposition.as_deref(), Some("inline; filename=\"a.png\""));
        assert_eq!(parsed, bytes);
        assert!(parse("multipart/mixed", &body).is_none());
    }
}
