//! Serving media so that opening it can never attack the reader: a content type taken
//! from the upload only if it is known to be harmless, everything else as an opaque
//! download, sandboxed, never sniffed.

use actix_web::HttpResponse;

/// Types a browser may show inline; anything else is a download.
const INLINE_TYPES: &[&str] = &[
    "image/jpeg",
    "image/gif",
    "image/png",
    "image/apng",
    "image/webp",
    "image/avif",
    "video/mp4",
    "video/webm",
    "video/ogg",
    "video/quicktime",
    "audio/mp4",
    "audio/webm",
    "audio/aac",
    "audio/mpeg",
    "audio/ogg",
    "audio/wave",
    "audio/wav",
    "audio/x-wav",
    "audio/x-pn-wav",
    "audio/flac",
    "audio/x-flac",
    "text/plain",
];

/// Types served with their own content type (as downloads unless inline-safe).
const SAFE_TYPES: &[&str] = &[
    "application/pdf",
    "application/zip",
    "application/json",
    "text/csv",
];

/// `filename` reduced to characters that cannot break out of a header or a path.
pub fn sanitise_file_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .filter(|c| !c.is_control() && !matches!(c, '/' | '\\' | '"' | ';' | '\0'))
        .collect();
    let trimmed = cleaned.trim().trim_start_matches('.');
    trimmed.chars().take(255).collect()
}

fn essence(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// The response for a media file with its protective headers.
pub fn response(
    bytes: Vec<u8>,
    content_type: Option<&str>,
    file_name: Option<&str>,
) -> HttpResponse {
    let kind = content_type.map(essence).unwrap_or_default();
    let inline = INLINE_TYPES.contains(&kind.as_str());
    let served_type = if inline || SAFE_TYPES.contains(&kind.as_str()) {
        if kind == "text/plain" {
            "text/plain; charset=utf-8".to_owned()
        } else {
            kind.clone()
        }
    } else {
        "application/octet-stream".to_owned()
    };
    let name = file_name.map(sanitise_file_name).filter(|n| !n.is_empty());
    let disposition = {
        let kind = if inline { "inline" } else { "attachment" };
        match name {
            Some(name) => {
                let ascii: String = name
                    .chars()
                    .map(|c| if c.is_ascii() { c } else { '_' })
                    .collect();
                let encoded = percent_encoding::utf8_percent_encode(
                    &name,
                    percent_encoding::NON_ALPHANUMERIC,
                );
                format!("{kind}; filename=\"{ascii}\"; filename*=utf-8''{encoded}")
            }
            None => kind.to_owned(),
        }
    };
    HttpResponse::Ok()
        .content_type(served_type)
        .insert_header(("Content-Disposition", disposition))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .insert_header((
            "Content-Security-Policy",
            "sandbox; default-src 'none'; script-src 'none'; plugin-types application/pdf; style-src 'unsafe-inline'; media-src 'self'; object-src 'self';",
        ))
        .insert_header(("Cross-Origin-Resource-Policy", "cross-origin"))
        .insert_header(("Cache-Control", "private, max-age=31536000, immutable"))
        .body(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_cannot_escape() {
        assert_eq!(sanitise_file_name("../../etc/passwd"), "etcpasswd");
        assert_eq!(sanitise_file_name("a\"; evil=1\r\n.png"), "a evil=1.png");
        assert_eq!(sanitise_file_name("résumé.pdf"), "résumé.pdf");
    }

    #[test]
    fn active_content_is_downloaded_opaque() {
        let header = |r: &HttpResponse, name: &str| {
            r.headers().get(name).unwrap().to_str().unwrap().to_owned()
        };
        let html = response(b"<script>".to_vec(), Some("text/html"), Some("x.html"));
        assert_eq!(header(&html, "content-type"), "application/octet-stream");
        assert!(header(&html, "content-disposition").starts_with("attachment"));
        let png = response(vec![], Some("image/png"), None);
        assert_eq!(header(&png, "content-type"), "image/png");
        assert_eq!(header(&png, "content-disposition"), "inline");
    }
}
