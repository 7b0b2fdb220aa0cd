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

/// SHA-256 (FIPS 180-4) in hex. A dozen hashes per run do not earn a crate.
fn sha256_hex(input: &[u8]) -> String {
    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];
    let mut h: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
        0x5be0cd19,
    ];
    let mut message = input.to_vec();
    message.push(0x80);
    while message.len() % 64 != 56 {
        message.push(0);
    }
    message.extend_from_slice(&((input.len() as u64) * 8).to_be_bytes());
    for block in message.chunks_exact(64) {
        let mut w = [0u32; 64];
        for (i, word) in block.chunks_exact(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16]
                .wrapping_add(s0)
                .wrapping_add(w[i - 7])
                .wrapping_add(s1);
        }
        let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut hh] = h;
        for i in 0..64 {
            let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
            let ch = (e & f) ^ (!e & g);
            let t1 = hh
                .wrapping_add(s1)
                .wrapping_add(ch)
                .wrapping_add(K[i])
                .wrapping_add(w[i]);
            let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
            let maj = (a & b) ^ (a & c) ^ (b & c);
            let t2 = s0.wrapping_add(maj);
            hh = g;
            g = f;
            f = e;
            e = d.wrapping_add(t1);
            d = c;
            c = b;
            b = a;
            a = t1.wrapping_add(t2);
        }
        for (state, add) in h.iter_mut().zip([a, b, c, d, e, f, g, hh]) {
            *state = state.wrapping_add(add);
        }
    }
    h.iter().map(|word| format!("{word:08x}")).collect()
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
    fn sha256_of_the_standard_vectors() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        // Two blocks of padding.
        assert_eq!(
            sha256_hex(b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        );
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
