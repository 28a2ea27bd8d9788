//! Policy parameters: a table whose keys depend on the policy's `kind`, read key by key so that
//! every value keeps its place in the file for error messages, and so that per-service
//! `overrides` can be laid over the base table before the policy reads it.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::Range;

use serde::de::{DeserializeOwned, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use toml::Spanned;

use super::error::ConfigError;

/// A policy table as written: its keys with their values and places, and the per-service
/// `overrides` sub-tables.
#[derive(Debug, Clone, Default)]
pub struct ParamMap {
    pub fields: BTreeMap<String, Spanned<toml::Value>>,
    /// Where each key is written, for "unknown key" errors.
    pub key_spans: BTreeMap<String, Range<usize>>,
    pub overrides: BTreeMap<String, Spanned<ParamMap>>,
}

impl<'de> Deserialize<'de> for ParamMap {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ParamMap;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a table of policy settings")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ParamMap, A::Error> {
                let mut out = ParamMap::default();
                while let Some(key) = map.next_key::<Spanned<String>>()? {
                    let span = key.span();
                    let key = key.into_inner();
                    if key == "overrides" {
                        out.overrides = map.next_value()?;
                    } else {
                        let v: Spanned<toml::Value> = map.next_value()?;
                        out.key_spans.insert(key.clone(), span);
                        out.fields.insert(key, v);
                    }
                }
                Ok(out)
            }
        }
        d.deserialize_map(V)
    }
}

/// The settings one policy instance reads: the base table with one service's overrides laid
/// over it. Each `get` marks its key as known; `finish` reports any key nobody asked for.
pub struct Params {
    fields: BTreeMap<String, Spanned<toml::Value>>,
    key_spans: BTreeMap<String, Range<usize>>,
    asked: BTreeSet<&'static str>,
    /// Where the table itself is: errors about a missing key point here.
    pub span: Range<usize>,
    /// What the table is, for messages: `policy "hpa-70" pods (kind = "hpa")`.
    pub what: String,
}

impl Params {
    pub fn new(base: &ParamMap, overrides: Option<&ParamMap>, span: Range<usize>, what: String) -> Self {
        let mut fields = base.fields.clone();
        let mut key_spans = base.key_spans.clone();
        if let Some(o) = overrides {
            for (k, v) in &o.fields {
                fields.insert(k.clone(), v.clone());
            }
            key_spans.extend(o.key_spans.iter().map(|(k, s)| (k.clone(), s.clone())));
        }
        Self { fields, key_spans, asked: BTreeSet::new(), span, what }
    }

    /// The value of `key`, deserialized, if present. Errors point at the value.
    pub fn get<T: DeserializeOwned>(&mut self, key: &'static str) -> Result<Option<T>, ConfigError> {
        self.asked.insert(key);
        let Some(v) = self.fields.get(key) else { return Ok(None) };
        T::deserialize(v.get_ref().clone())
            .map(Some)
            .map_err(|e| ConfigError::at(v.span(), format!("{}: `{key}`: {}", self.what, super::error::plain_words(e.message().trim()))))
    }

    /// The value of `key`, or `default` when absent.
    pub fn get_or<T: DeserializeOwned>(&mut self, key: &'static str, default: T) -> Result<T, ConfigError> {
        Ok(self.get(key)?.unwrap_or(default))
    }

    /// The value of `key`, which must be present.
    pub fn require<T: DeserializeOwned>(&mut self, key: &'static str) -> Result<T, ConfigError> {
        match self.get(key)? {
            Some(v) => Ok(v),
            None => Err(ConfigError::at(self.span.clone(), format!("{}: missing `{key}`", self.what))),
        }
    }

    /// Whether `key` is written (without marking it as read).
    pub fn has(&self, key: &str) -> bool {
        self.fields.contains_key(key)
    }

    /// Where `key`'s value is (or the table, when the key is absent): for errors found after
    /// reading, such as `min_replicas` above `max_replicas`.
    pub fn span_of(&self, key: &str) -> Range<usize> {
        self.fields.get(key).map_or(self.span.clone(), |v| v.span())
    }

    /// Report the first key no `get` asked for, listing the keys this kind knows.
    pub fn finish(self) -> Result<(), ConfigError> {
        for (k, v) in &self.fields {
            if !self.asked.contains(k.as_str()) && k != "kind" {
                let known: Vec<_> = self.asked.iter().map(|k| format!("`{k}`")).collect();
                let expected = if known.is_empty() {
                    "this kind takes no settings besides `kind`".to_string()
                } else {
                    format!("expected one of: `kind`, {}", known.join(", "))
                };
                let span = self.key_spans.get(k).cloned().unwrap_or_else(|| v.span());
                return Err(ConfigError::at(span, format!("{}: unknown key `{k}`, {expected}", self.what)));
            }
        }
        Ok(())
    }
}

/// Deserialize a whole `toml::Value` into `T`, for policies that take nested tables.
pub fn from_value<T: DeserializeOwned>(v: &Spanned<toml::Value>) -> Result<T, ConfigError> {
    T::deserialize(v.get_ref().clone()).map_err(|e: toml::de::Error| ConfigError::at(v.span(), e.message().to_string()))
}

