//! `--explain`'s compression line: which content coding a request with the given
//! `Accept-Encoding` would get, and why (a pre-compressed sibling, on the fly at
//! which level, or identity and the rule that said so).

use super::{Accept, Candidate, Encoding, codec, decide};
use crate::config::compress::{Compression, Static};
use crate::http::{Request, Response};

/// One line (without the label) for a static answer `resp`, or for CGI output
/// (`resp` None: the decision waits for the script's header block).
pub fn describe(comp: &Compression, req: &Request, resp: Option<&Response>) -> String {
    let accept = Accept::parse(
        req.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("accept-encoding"))
            .map(|(_, v)| v),
    );
    let sent = match req.header("accept-encoding") {
        Some(v) => format!("Accept-Encoding \"{v}\""),
        None => "no Accept-Encoding".to_owned(),
    };
    let Some(resp) = resp else {
        let on: Vec<String> = Encoding::PREFERENCE
            .into_iter()
            .filter(|&e| codec(comp, e).on)
            .map(|e| format!("{} ({})", e.token(), codec(comp, e).types.join(" ")))
            .collect();
        if on.is_empty() {
            return "identity: gzip, brotli and zstd are off here".to_owned();
        }
        let offered: Vec<Encoding> = Encoding::PREFERENCE
            .into_iter()
            .filter(|&e| codec(comp, e).on)
            .collect();
        let pick = accept.choose(&offered).map_or("identity", |e| e.token());
        return format!(
            "decided from the script's Content-Type and Cache-Control; on here: {}; with {sent}: {pick} for a listed type",
            on.join(", ")
        );
    };
    if let Some(enc) = resp.get_header("content-encoding") {
        let directive = match enc {
            "br" => "brotli_static",
            "zstd" => "zstd_static",
            _ => "gzip_static",
        };
        let always = enc == "gzip" && comp.gzip.precompressed == Static::Always;
        let why = if always {
            "gzip_static always".to_owned()
        } else {
            format!("{directive} on, the best of {sent} with a sibling on disk")
        };
        return format!("{enc}: the pre-compressed sibling ({why})");
    }
    let not_modified = resp.status == 304;
    let candidate = Candidate {
        status: if not_modified { 200 } else { resp.status },
        content_type: resp.get_header("content-type"),
        cache_control: resp.get_header("cache-control"),
        encoded: false,
        length: (!not_modified).then(|| resp.body.len()),
    };
    let d = decide(comp, req, &candidate);
    let vary = if d.vary || resp.get_header("vary").is_some() {
        "; Vary: Accept-Encoding"
    } else {
        ""
    };
    let siblings = Encoding::PREFERENCE
        .into_iter()
        .any(|e| codec(comp, e).precompressed != Static::Off);
    let why = match d.why {
        super::Why::Off if siblings => {
            "no pre-compressed sibling on disk is acceptable, and on-the-fly compression is off"
                .to_owned()
        }
        super::Why::Type => format!(
            "type \"{}\" is in no *_types list that is on",
            candidate.content_type.unwrap_or("")
        ),
        ref why => why.to_string(),
    };
    match d.encoding {
        Some((e, _)) => format!("{} on the fly: {why} ({sent}){vary}", e.token()),
        None => format!("identity: {why} ({sent}){vary}"),
    }
}
