//! The strict YAML check: whether a file is YAML that kustomize accepts, beyond what yaml-edit's
//! lenient parser requires.
//!
//! yaml-edit accepts some text that YAML parsers refuse (`apiVersion: apps/v1: x`, a key twice in
//! one mapping), and kustomize refuses it. Such a file is reported as invalid YAML, with the line
//! yaml_serde names, rather than edited.
//!
//! The check runs on every managed file of every command, so it has two passes. The quick pass
//! reads the same parser events as a `yaml_serde::Value` would, without building one: it accepts
//! a document only when every mapping key is a plain scalar and no two keys of a mapping are
//! alike. Anything else (a duplicate, a tagged node, a collection or a float as a key, a syntax
//! error) goes to the full pass, which builds the `Value` and so decides exactly as yaml_serde
//! does, and words the error. The quick pass may send a good file to the full pass, never a bad
//! file past it.

use std::fmt;
use std::hash::{DefaultHasher, Hash, Hasher};

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use super::without_bom;

/// `Err("line N: message")` when kustomize's YAML reader would refuse `text`.
pub fn check(text: &str) -> Result<(), String> {
    if quick_pass(without_bom(text)) {
        return Ok(());
    }
    full_pass(without_bom(text))
}

fn quick_pass(text: &str) -> bool {
    // The first error ends a pass: the document iterator would repeat it forever.
    yaml_serde::Deserializer::from_str(text).all(|doc| Plain::deserialize(doc).is_ok())
}

fn full_pass(text: &str) -> Result<(), String> {
    for doc in yaml_serde::Deserializer::from_str(text) {
        // A Value (not IgnoredAny) is built so that duplicate keys are errors too.
        if let Err(e) = <yaml_serde::Value as Deserialize>::deserialize(doc) {
            let line = e.location().map_or(1, |l| l.line());
            let message = e.to_string();
            let message = match message.split_once(" at line ") {
                Some((text, _)) => text.to_string(),
                None => message,
            };
            return Err(format!("line {line}: {message}"));
        }
    }
    Ok(())
}

/// One document as the quick pass reads it, with its top-level `apiVersion`, `kind` and
/// `metadata` kept as values and the rest only checked: `None` where the quick pass would send
/// it to the full pass (which then decides, as parsing it whole does), or where it is not a
/// mapping. A reader that needs an object's identity and labels only is spared building the rest.
pub fn header(doc: &str) -> Option<yaml_serde::Mapping> {
    yaml_serde::from_str::<Header>(doc).ok().map(|h| h.0)
}

/// The keys [`header`] keeps.
const HEADER_KEYS: [&str; 3] = ["apiVersion", "kind", "metadata"];

struct Header(yaml_serde::Mapping);

impl<'de> Deserialize<'de> for Header {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Header, D::Error> {
        deserializer.deserialize_any(HeaderVisitor)
    }
}

struct HeaderVisitor;

impl<'de> Visitor<'de> for HeaderVisitor {
    type Value = Header;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an untagged YAML mapping")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Header, A::Error> {
        let mut keys = Vec::new();
        let mut kept = yaml_serde::Mapping::new();
        while let Some(HeaderKey(KeyPrint(key), name)) = map.next_key()? {
            keys.push(key);
            match name {
                Some(name) => {
                    let value: yaml_serde::Value = map.next_value()?;
                    kept.insert(yaml_serde::Value::from(name), value);
                }
                None => {
                    map.next_value::<Plain>()?;
                }
            }
        }
        keys.sort_unstable();
        if keys.windows(2).any(|pair| pair[0] == pair[1]) {
            return Err(de::Error::custom("two keys alike"));
        }
        Ok(Header(kept))
    }
}

/// A top-level key: its fingerprint, and its name when [`header`] keeps it.
struct HeaderKey(KeyPrint, Option<&'static str>);

impl<'de> Deserialize<'de> for HeaderKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<HeaderKey, D::Error> {
        deserializer.deserialize_any(HeaderKeyVisitor)
    }
}

struct HeaderKeyVisitor;

impl<'de> Visitor<'de> for HeaderKeyVisitor {
    type Value = HeaderKey;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a plain scalar key")
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<HeaderKey, E> {
        KeyVisitor.visit_bool(value).map(|k| HeaderKey(k, None))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<HeaderKey, E> {
        KeyVisitor.visit_i64(value).map(|k| HeaderKey(k, None))
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<HeaderKey, E> {
        KeyVisitor.visit_u64(value).map(|k| HeaderKey(k, None))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<HeaderKey, E> {
        KeyVisitor.visit_f64(value).map(|k| HeaderKey(k, None))
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<HeaderKey, E> {
        let name = HEADER_KEYS.into_iter().find(|k| *k == value);
        KeyVisitor.visit_str(value).map(|k| HeaderKey(k, name))
    }

    fn visit_unit<E: de::Error>(self) -> Result<HeaderKey, E> {
        KeyVisitor.visit_unit().map(|k| HeaderKey(k, None))
    }

    fn visit_none<E: de::Error>(self) -> Result<HeaderKey, E> {
        KeyVisitor.visit_none().map(|k| HeaderKey(k, None))
    }
}

/// A node the quick pass accepts: untagged, with plain scalar keys that differ.
struct Plain;

impl<'de> Deserialize<'de> for Plain {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Plain, D::Error> {
        deserializer.deserialize_any(PlainVisitor)
    }
}

struct PlainVisitor;

impl<'de> Visitor<'de> for PlainVisitor {
    type Value = Plain;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an untagged YAML node")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Plain, E> {
        Ok(Plain)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Plain, E> {
        Ok(Plain)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Plain, E> {
        Ok(Plain)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Plain, E> {
        Ok(Plain)
    }

    fn visit_str<E>(self, _: &str) -> Result<Plain, E> {
        Ok(Plain)
    }

    fn visit_unit<E>(self) -> Result<Plain, E> {
        Ok(Plain)
    }

    fn visit_none<E>(self) -> Result<Plain, E> {
        Ok(Plain)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Plain, A::Error> {
        while seq.next_element::<Plain>()?.is_some() {}
        Ok(Plain)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Plain, A::Error> {
        let mut keys = Vec::new();
        while let Some(KeyPrint(key)) = map.next_key()? {
            keys.push(key);
            map.next_value::<Plain>()?;
        }
        keys.sort_unstable();
        if keys.windows(2).any(|pair| pair[0] == pair[1]) {
            return Err(de::Error::custom("two keys alike"));
        }
        Ok(Plain)
    }
}

/// A mapping key's fingerprint: equal for keys a `Value` holds equal, and for some that it does
/// not (a hash collision, any two floats), which only costs the full pass.
struct KeyPrint(u64);

impl<'de> Deserialize<'de> for KeyPrint {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<KeyPrint, D::Error> {
        deserializer.deserialize_any(KeyVisitor)
    }
}

struct KeyVisitor;

impl KeyVisitor {
    fn print(value: impl Hash) -> KeyPrint {
        let mut hasher = DefaultHasher::new();
        value.hash(&mut hasher);
        KeyPrint(hasher.finish())
    }
}

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = KeyPrint;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a plain scalar key")
    }

    fn visit_bool<E>(self, value: bool) -> Result<KeyPrint, E> {
        Ok(Self::print(('b', value)))
    }

    // An integer is one key whether yaml_serde read it as signed or unsigned.
    fn visit_i64<E>(self, value: i64) -> Result<KeyPrint, E> {
        Ok(Self::print(('i', i128::from(value))))
    }

    fn visit_u64<E>(self, value: u64) -> Result<KeyPrint, E> {
        Ok(Self::print(('i', i128::from(value))))
    }

    // Float equality has corners (NaN, -0.0) that a hash does not follow: every float key
    // prints alike, so two in one mapping go to the full pass.
    fn visit_f64<E>(self, _: f64) -> Result<KeyPrint, E> {
        Ok(Self::print('f'))
    }

    fn visit_str<E>(self, value: &str) -> Result<KeyPrint, E> {
        Ok(Self::print(('s', value)))
    }

    fn visit_unit<E>(self) -> Result<KeyPrint, E> {
        Ok(Self::print('n'))
    }

    fn visit_none<E>(self) -> Result<KeyPrint, E> {
        Ok(Self::print('n'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_quick_pass_sends_every_refusal_to_the_full_pass() {
        let refused = [
            ("a: 1\na: 2\n", "line 1: duplicate entry with key \"a\""),
            (
                "apiVersion: apps/v1: x\n",
                "line 1: mapping values are not allowed in this context",
            ),
            ("1: a\n0x1: b\n", "line 1: duplicate entry with key 1"),
            (
                "---\nk: v\n---\nx:\n  y: 1\n  y: 2\n",
                "line 5: x: duplicate entry with key \"y\"",
            ),
        ];
        for (text, message) in refused {
            assert!(!quick_pass(text), "{text:?}");
            assert_eq!(check(text), Err(message.to_string()), "{text:?}");
        }
    }

    #[test]
    fn keys_alike_only_in_print_are_accepted_by_the_full_pass() {
        for text in ["1.5: a\n2.5: b\n", "? [a]\n: 1\n", "!thing {a: 1}\n"] {
            assert!(!quick_pass(text), "{text:?}");
            assert_eq!(check(text), Ok(()), "{text:?}");
        }
    }

    #[test]
    fn plain_documents_pass_quickly() {
        for text in ["1: a\n'1': b\n", "!!str a: 1\nb: 2\n"] {
            assert!(quick_pass(text), "{text:?}");
            assert_eq!(check(text), Ok(()), "{text:?}");
        }
        let text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  a: '1'\n  b: \"2\"\n  c: [1, 2, {d: e}]\n---\n- 1\n- ~\n";
        assert!(quick_pass(text));
        assert_eq!(check(text), Ok(()));
    }

    #[test]
    fn a_header_is_the_whole_document_s_identity_or_nothing() {
        let text = "apiVersion: v1\nkind: Service\nspec:\n  ports: [1, 2]\nmetadata:\n  name: a\n  labels: {x: y}\n";
        let whole: yaml_serde::Value = yaml_serde::from_str(text).unwrap();
        let mut expected = yaml_serde::Mapping::new();
        for key in ["apiVersion", "kind", "metadata"] {
            expected.insert(yaml_serde::Value::from(key), whole[key].clone());
        }
        assert_eq!(header(text), Some(expected));
        // What the quick pass would not accept, and what is not a mapping.
        for refused in [
            "kind: A\nspec: 1\nspec: 2\n",
            "kind: A\nspec:\n  a: 1\n  a: 2\n",
            "kind: A\nmetadata:\n  name: a\n  name: b\n",
            "kind: A\n1.5: a\n2.5: b\n",
            "- a\n",
            "kind: [\n",
        ] {
            assert_eq!(header(refused), None, "{refused:?}");
        }
    }
}
