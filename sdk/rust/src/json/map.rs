use super::{Error, FromJson, Value};

/// A JSON object: members with distinct keys, in the order they were
/// inserted (or parsed), which is the order they are written in.
///
/// Lookups search the members one by one, which is the fastest way for the
/// small objects tools pass around.
#[derive(Clone, Debug, Default)]
pub struct Map {
    entries: Vec<(String, Value)>,
}

impl Map {
    /// Returns an empty object.
    pub fn new() -> Map {
        Map { entries: Vec::new() }
    }

    /// Returns an empty object with room for `n` members.
    pub fn with_capacity(n: usize) -> Map {
        Map { entries: Vec::with_capacity(n) }
    }

    /// Returns the number of members.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Reports whether there are no members.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn position(&self, key: &str) -> Option<usize> {
        self.entries.iter().position(|(k, _)| k == key)
    }

    /// Returns the value of the member `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.position(key).map(|i| &self.entries[i].1)
    }

    /// Returns the value of the member `key` for changing.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        match self.position(key) {
            Some(i) => Some(&mut self.entries[i].1),
            None => None,
        }
    }

    /// Reports whether there is a member `key`.
    pub fn contains_key(&self, key: &str) -> bool {
        self.position(key).is_some()
    }

    /// Sets the member `key` to `value` and returns its old value: a new
    /// key goes last, an existing one keeps its place.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<Value>) -> Option<Value> {
        let key = key.into();
        let value = value.into();
        match self.position(&key) {
            Some(i) => Some(std::mem::replace(&mut self.entries[i].1, value)),
            None => {
                self.entries.push((key, value));
                None
            }
        }
    }

    /// Removes the member `key` and returns its value; the others keep
    /// their order.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        self.position(key).map(|i| self.entries.remove(i).1)
    }

    /// Removes the member `key` and decodes its value as a `T`; a missing
    /// member decodes as null (so an `Option` is None). An error names the
    /// key.
    ///
    /// ```
    /// # use capstream::json::{self, FromJson, Map};
    /// let mut o = Map::from_json(json::parse(br#"{"n": 2}"#)?)?;
    /// let n: u32 = o.take("n")?;
    /// let text: Option<String> = o.take("text")?;
    /// assert_eq!((n, text), (2, None));
    /// assert_eq!(o.take::<String>("text").err().unwrap().to_string(), "text: expected a string, found null");
    /// # Ok::<(), json::Error>(())
    /// ```
    pub fn take<T: FromJson>(&mut self, key: &str) -> Result<T, Error> {
        let value = self.remove(key).unwrap_or(Value::Null);
        T::from_json(value).map_err(|e| e.at(key))
    }

    /// Iterates over the members in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Iterates over the keys in order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(k, _)| k.as_str())
    }

    /// Iterates over the values in order.
    pub fn values(&self) -> impl Iterator<Item = &Value> {
        self.entries.iter().map(|(_, v)| v)
    }

    /// Returns the object parsed from `entries`, where a key may repeat:
    /// the last value wins, in the first one's place.
    pub(super) fn from_parsed(mut entries: Vec<(String, Value)>) -> Map {
        let n = entries.len();
        let has_duplicates = if n <= 16 {
            (1..n).any(|i| entries[..i].iter().any(|(k, _)| *k == entries[i].0))
        } else {
            let mut order: Vec<usize> = (0..n).collect();
            order.sort_by(|&a, &b| entries[a].0.cmp(&entries[b].0));
            order.windows(2).any(|w| entries[w[0]].0 == entries[w[1]].0)
        };
        if !has_duplicates {
            return Map { entries };
        }
        let mut map = Map::with_capacity(n);
        for (k, v) in entries.drain(..) {
            map.insert(k, v);
        }
        map
    }
}

/// Objects are equal when they have the same members, in any order.
impl PartialEq for Map {
    fn eq(&self, other: &Map) -> bool {
        self.len() == other.len() && self.iter().all(|(k, v)| other.get(k) == Some(v))
    }
}

impl<K: Into<String>, V: Into<Value>> FromIterator<(K, V)> for Map {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Map {
        let mut map = Map::new();
        map.extend(iter);
        map
    }
}

impl<K: Into<String>, V: Into<Value>> Extend<(K, V)> for Map {
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, iter: I) {
        for (k, v) in iter {
            self.insert(k, v);
        }
    }
}

impl IntoIterator for Map {
    type Item = (String, Value);
    type IntoIter = std::vec::IntoIter<(String, Value)>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}
