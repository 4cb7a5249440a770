//! The attributes the HTML normaliser keeps of the tag it is reading, in one buffer (a page's
//! hundreds of `href`s would otherwise cost two allocations each).

use std::ops::Range;

/// Attribute names and values of one tag, in the order read.
#[derive(Debug, Default)]
pub(super) struct Args {
    /// Every name and value, one after another.
    buf: Vec<u8>,
    /// Each attribute's name and value (`None`: written without `=`) in `buf`.
    items: Vec<(Range<usize>, Option<Range<usize>>)>,
}

impl Args {
    /// Appends one bytes slice to the buffer; where it is.
    fn put(&mut self, bytes: &[u8]) -> Range<usize> {
        let start = self.buf.len();
        self.buf.extend_from_slice(bytes);
        start..self.buf.len()
    }

    /// Keeps an attribute.
    pub fn push(&mut self, name: &[u8], value: Option<&[u8]>) {
        let name = self.put(name);
        let value = value.map(|v| self.put(v));
        self.items.push((name, value));
    }

    /// Which attribute is the first called `name`.
    fn position(&self, name: &[u8]) -> Option<usize> {
        self.items
            .iter()
            .position(|(n, _)| &self.buf[n.clone()] == name)
    }

    /// The value of the first attribute called `name` (`None` also when it has none).
    pub fn value(&self, name: &[u8]) -> Option<&[u8]> {
        let (_, v) = &self.items[self.position(name)?];
        v.clone().map(|v| &self.buf[v])
    }

    /// Gives the first attribute called `name` the value `value`.
    pub fn set_value(&mut self, name: &[u8], value: &[u8]) {
        if let Some(i) = self.position(name) {
            let v = self.put(value);
            self.items[i].1 = Some(v);
        }
    }

    /// Every attribute, in the order read.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], Option<&[u8]>)> {
        self.items
            .iter()
            .map(|(n, v)| (&self.buf[n.clone()], v.clone().map(|v| &self.buf[v])))
    }

    /// Forgets them all (the buffers kept for the next tag).
    pub fn clear(&mut self) {
        self.buf.clear();
        self.items.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::Args;

    #[test]
    fn keeps_names_and_values_in_order() {
        let mut a = Args::default();
        a.push(b"href", Some(b"/x.html"));
        a.push(b"defer", None);
        a.push(b"href", Some(b"/second"));
        assert_eq!(a.value(b"href"), Some(&b"/x.html"[..]));
        assert_eq!(a.value(b"defer"), None);
        assert_eq!(a.value(b"src"), None);
        a.set_value(b"defer", b"yes");
        a.set_value(b"absent", b"no");
        let all: Vec<_> = a.iter().collect();
        assert_eq!(
            all,
            [
                (&b"href"[..], Some(&b"/x.html"[..])),
                (&b"defer"[..], Some(&b"yes"[..])),
                (&b"href"[..], Some(&b"/second"[..])),
            ]
        );
        a.clear();
        assert_eq!(a.iter().count(), 0);
        assert_eq!(a.value(b"href"), None);
    }
}
