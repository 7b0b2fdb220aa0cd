//! The hash suffix kustomize gives a generated ConfigMap's name, computed as kustomize computes
//! it, so a live ConfigMap whose data was edited in place (its pods never restarted) can be told
//! from one that is what its generator made.
//!
//! kustomize v4 and v5 hash the JSON object `{"data":...,"kind":"ConfigMap","name":""}` (keys
//! sorted, Go's `encoding/json` escaping): the name is looked up with a path kyaml does not
//! resolve, so it is always empty. kustomize 3 hashed the same object with the generator's name.
//! The hex SHA-256's first ten characters are the suffix, with `0 1 3 a e` replaced by
//! `g h k m t` (no vowels, no look-alike digits). Checked against every generated ConfigMap in
//! the real renders of kubeflow/manifests v1.8.1 and 26.03.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

/// The characters a suffix is made of (hex digits after the replacement).
const SUFFIX_CHARS: &[u8] = b"2456789bcdfghkmt";

/// The generator's name and the hash suffix, when `name` looks generated: `BASE-XXXXXXXXXX` with
/// ten characters kustomize's encoding can produce.
pub fn split_generated(name: &str) -> Option<(&str, &str)> {
    let (base, suffix) = name.rsplit_once('-')?;
    (!base.is_empty() && suffix.len() == 10 && suffix.bytes().all(|b| SUFFIX_CHARS.contains(&b)))
        .then_some((base, suffix))
}

/// The suffix kustomize gives a ConfigMap with this data (and binaryData, when present), with
/// the name it hashes (empty for kustomize v4 and later).
pub fn suffix(
    hashed_name: &str,
    data: Option<&BTreeMap<String, String>>,
    binary_data: Option<&BTreeMap<String, String>>,
) -> String {
    let mut json = String::from("{");
    if let Some(binary) = binary_data {
        json.push_str("\"binaryData\":");
        push_map(&mut json, binary);
        json.push(',');
    }
    json.push_str("\"data\":");
    match data {
        Some(data) => push_map(&mut json, data),
        // An absent `data` is looked up as the empty string, not an empty object.
        None => json.push_str("\"\""),
    }
    json.push_str(",\"kind\":\"ConfigMap\",\"name\":");
    push_string(&mut json, hashed_name);
    json.push('}');
    encode(&sha256_hex(json.as_bytes())[..10])
}

/// Hex digits in kustomize's alphabet.
fn encode(hex: &str) -> String {
    hex.chars()
        .map(|c| match c {
            '0' => 'g',
            '1' => 'h',
            '3' => 'k',
            'a' => 'm',
            'e' => 't',
            other => other,
        })
        .collect()
}

/// The suffix kustomize gives a generated Secret of this `type` whose `data` holds these
/// (base64) values: the same hash over `{"data":...,"kind":"Secret","name":"","type":...}`.
pub fn secret_suffix(data: &BTreeMap<String, String>, kind_of_secret: &str) -> String {
    let mut json = String::from("{\"data\":");
    push_map(&mut json, data);
    json.push_str(",\"kind\":\"Secret\",\"name\":\"\",\"type\":");
    push_string(&mut json, kind_of_secret);
    json.push('}');
    encode(&sha256_hex(json.as_bytes())[..10])
}

/// Standard base64 with padding, as a Secret's `data` holds its values.
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Whether `name` carries the suffix kustomize (3, or 4 and later) would give this data.
pub fn matches(
    name: &str,
    data: Option<&BTreeMap<String, String>>,
    binary_data: Option<&BTreeMap<String, String>>,
) -> Option<bool> {
    let (base, found) = split_generated(name)?;
    Some(suffix("", data, binary_data) == found || suffix(base, data, binary_data) == found)
}

fn push_map(json: &mut String, map: &BTreeMap<String, String>) {
    json.push('{');
    for (i, (k, v)) in map.iter().enumerate() {
        if i > 0 {
            json.push(',');
        }
        push_string(json, k);
        json.push(':');
        push_string(json, v);
    }
    json.push('}');
}

/// A JSON string as Go's `encoding/json` writes it: HTML-safe (`<`, `>`, `&` escaped), and U+2028
/// and U+2029 escaped.
fn push_string(json: &mut String, s: &str) {
    json.push('"');
    for c in s.chars() {
        match c {
            '"' => json.push_str("\\\""),
            '\\' => json.push_str("\\\\"),
            '\n' => json.push_str("\\n"),
            '\r' => json.push_str("\\r"),
            '\t' => json.push_str("\\t"),
            c if (c as u32) < 0x20 || matches!(c, '<' | '>' | '&' | '\u{2028}' | '\u{2029}') => {
                json.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => json.push(c),
        }
    }
    json.push('"');
}

/// SHA-256 in hex.
fn sha256_hex(input: &[u8]) -> String {
    Sha256::digest(input)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_secret_gets_kustomizes_suffix() {
        // kubectl kustomize (v5.5) of a secretGenerator with literals NAMESPACE=abc and B=x.
        let data = map(&[("B", &base64(b"x")), ("NAMESPACE", &base64(b"abc"))]);
        assert_eq!(data["B"], "eA==");
        assert_eq!(data["NAMESPACE"], "YWJj");
        assert_eq!(secret_suffix(&data, "Opaque"), "9h4fh295h5");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b""), "");
    }

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn suffixes_kustomize_gave_in_real_renders() {
        // pipeline-api-server-config in kubeflow/manifests (the same in every release since v1.3).
        let upstream = map(&[
            ("DEFAULTPIPELINERUNNERSERVICEACCOUNT", "default-editor"),
            ("MULTIUSER", "true"),
            (
                "VISUALIZATIONSERVICE_NAME",
                "ml-pipeline-visualizationserver",
            ),
            ("VISUALIZATIONSERVICE_PORT", "8888"),
        ]);
        assert_eq!(suffix("", Some(&upstream), None), "dc9hkg52h6");
        let mut off = upstream.clone();
        off.insert("MULTIUSER".into(), "false".into());
        assert_eq!(suffix("", Some(&off), None), "dfdcg425dt");
        off.insert(
            "DEFAULTPIPELINERUNNERSERVICEACCOUNT".into(),
            "pipeline-runner".into(),
        );
        assert_eq!(suffix("", Some(&off), None), "589h5mkcgk");
        // `kubectl kustomize` of a generator with one literal a=b.
        assert_eq!(suffix("", Some(&map(&[("a", "b")])), None), "4h2mbtbbt6");
        assert_eq!(
            matches(
                "pipeline-api-server-config-dc9hkg52h6",
                Some(&upstream),
                None
            ),
            Some(true)
        );
        assert_eq!(
            matches("pipeline-api-server-config-dc9hkg52h6", Some(&off), None),
            Some(false)
        );
    }

    #[test]
    fn go_escaping() {
        let mut s = String::new();
        push_string(&mut s, "a<b>&\"\\\n\u{1}\u{2028}é");
        assert_eq!(s, "\"a\\u003cb\\u003e\\u0026\\\"\\\\\\n\\u0001\\u2028é\"");
    }

    #[test]
    fn only_suffixes_kustomize_can_make_look_generated() {
        assert_eq!(
            split_generated("pipeline-api-server-config-dc9hkg52h6"),
            Some(("pipeline-api-server-config", "dc9hkg52h6"))
        );
        // Real names of ConfigMaps that are not generated, with ten-letter last words.
        for name in [
            "config-autoscaler",
            "config-deployment",
            "centraldashboard-parameters",
            "ml-pipeline-ui-configmap",
            "-dc9hkg52h6",
        ] {
            assert_eq!(split_generated(name), None, "{name}");
        }
    }
}
