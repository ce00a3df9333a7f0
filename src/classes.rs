//! ImageNet class names: index ↔ synset ↔ names, and resolving what a user typed to a class.

use std::collections::HashMap;
use std::path::Path;

#[cfg(feature = "cli")]
use crate::app::input_file::{SizeLimit, read_limited};
use crate::error::{Error, Result};

/// The largest class file read (ImageNet's 1000 classes take 31 KiB).
#[cfg(feature = "cli")]
const CLASS_FILE_LIMIT: SizeLimit = SizeLimit {
    bytes: 16 << 20,
    what: "class files",
};

/// One class: its synset id and its comma-separated names, first name first.
#[derive(Clone, Debug)]
struct Class {
    synset: String,
    names: Vec<String>,
}

/// The classes of a classifier in output index order, read from a `synset<TAB>name, name, …` file.
#[derive(Clone, Debug)]
pub struct ClassNames {
    classes: Vec<Class>,
    by_synset: HashMap<String, usize>,
}

/// A name folded for matching: lower case, `_`, `-` and runs of spaces made one space.
fn fold(name: &str) -> String {
    name.split(|c: char| c == '_' || c == '-' || c.is_whitespace())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// Whether `s` looks like a WordNet synset id (`n` and 8 digits).
fn is_synset(s: &str) -> bool {
    s.len() == 9 && s.starts_with('n') && s[1..].bytes().all(|b| b.is_ascii_digit())
}

impl ClassNames {
    /// Reads a class file: one line per class, `synset<TAB>comma-separated names`. Only a
    /// regular UTF-8 file of at most 16 MiB is read (see [`read_limited`]).
    #[cfg(feature = "cli")]
    pub fn load(path: &Path) -> Result<Self> {
        let io_error = |source| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        let bytes = read_limited(path, CLASS_FILE_LIMIT).map_err(io_error)?;
        let text = String::from_utf8(bytes).map_err(|_| {
            io_error(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "not UTF-8 text",
            ))
        })?;
        Self::parse(&text, path)
    }

    /// Parses the text of a class file (see [`ClassNames::load`]); `path` only names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let bad = |line: usize, why: &str| {
            Error::InvalidInput(format!("class file {}: line {line}: {why}", path.display()))
        };
        let mut classes = Vec::new();
        let mut by_synset = HashMap::new();
        for (i, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let (synset, names) = line
                .split_once('\t')
                .ok_or_else(|| bad(i + 1, "expected `synset<TAB>names`"))?;
            let synset = synset.trim().to_string();
            let names: Vec<String> = names
                .split(',')
                .map(|n| n.trim().to_string())
                .filter(|n| !n.is_empty())
                .collect();
            if names.is_empty() {
                return Err(bad(i + 1, "no class name after the tab"));
            }
            if by_synset.insert(synset.clone(), classes.len()).is_some() {
                return Err(bad(i + 1, &format!("synset {synset} appears twice")));
            }
            classes.push(Class { synset, names });
        }
        if classes.is_empty() {
            return Err(Error::InvalidInput(format!(
                "class file {}: no classes",
                path.display()
            )));
        }
        Ok(Self { classes, by_synset })
    }

    /// The ImageNet classes from `<data>/data/imagenet_classes.txt`.
    #[cfg(feature = "cli")]
    pub fn load_default() -> Result<Self> {
        Self::load(&crate::app::data::data_dir().join("data/imagenet_classes.txt"))
    }

    /// Number of classes.
    pub fn len(&self) -> usize {
        self.classes.len()
    }

    /// Whether there are no classes (never true for a loaded file).
    pub fn is_empty(&self) -> bool {
        self.classes.is_empty()
    }

    /// The first name of class `i` (e.g. "goldfish").
    ///
    /// # Panics
    /// When `i >= self.len()`.
    pub fn name(&self, i: usize) -> &str {
        &self.classes[i].names[0]
    }

    /// The synset id of class `i` (e.g. "n01443537").
    ///
    /// # Panics
    /// When `i >= self.len()`.
    pub fn synset(&self, i: usize) -> &str {
        &self.classes[i].synset
    }

    /// The index of the class with synset id `s`.
    pub fn index_of_synset(&self, s: &str) -> Option<usize> {
        self.by_synset.get(s).copied()
    }

    /// The class meant by `query`: an index ("1"), a synset id ("n01443537") or one of a class's
    /// names, matched ignoring case with `_`, `-` and spaces alike ("king_penguin",
    /// "King Penguin"). A class's first name wins over other classes' alternative names; a name
    /// shared by several classes is refused as ambiguous. Unknown names get suggestions.
    pub fn resolve(&self, query: &str) -> Result<usize> {
        let query = query.trim();
        if !query.is_empty() && query.bytes().all(|b| b.is_ascii_digit()) {
            return match query.parse::<usize>() {
                Ok(i) if i < self.len() => Ok(i),
                _ => Err(Error::UnknownClass(format!(
                    "class index {query} is out of range 0..{}",
                    self.len() - 1
                ))),
            };
        }
        if is_synset(query) {
            return self
                .index_of_synset(query)
                .ok_or_else(|| Error::UnknownClass(format!("unknown synset {query}")));
        }
        let folded = fold(query);
        let first: Vec<usize> = (0..self.len())
            .filter(|&i| fold(self.name(i)) == folded)
            .collect();
        let matches = if first.is_empty() {
            (0..self.len())
                .filter(|&i| self.classes[i].names.iter().any(|n| fold(n) == folded))
                .collect()
        } else {
            first
        };
        match matches[..] {
            [i] => Ok(i),
            [] => Err(Error::UnknownClass(format!(
                "unknown class `{query}`; did you mean {}?",
                self.describe(&self.closest(&folded, 3), " or ")
            ))),
            _ => Err(Error::UnknownClass(format!(
                "class name `{query}` is ambiguous: {}; give an index or a synset",
                self.describe(&matches, ", ")
            ))),
        }
    }

    /// The label of a file named `synset_name.ext` or `synset.ext` (e.g.
    /// `n01443537_goldfish.jpg` → 1).
    pub fn label_from_path(&self, path: &Path) -> Option<usize> {
        let stem = path.file_stem()?.to_str()?;
        let synset = stem.split('_').next()?;
        self.index_of_synset(synset)
    }

    /// `index name (synset)` for each class, joined by `sep`.
    fn describe(&self, indices: &[usize], sep: &str) -> String {
        indices
            .iter()
            .map(|&i| format!("{i} {} ({})", self.name(i), self.synset(i)))
            .collect::<Vec<_>>()
            .join(sep)
    }

    /// The `n` classes whose names are closest to the folded query: names containing the query
    /// (or contained in it) first, then by Jaro-Winkler similarity.
    fn closest(&self, folded: &str, n: usize) -> Vec<usize> {
        let mut scored: Vec<(f64, usize)> = self
            .classes
            .iter()
            .enumerate()
            .map(|(i, class)| {
                let score = class
                    .names
                    .iter()
                    .map(|name| {
                        let name = fold(name);
                        let contains = name.contains(folded) || folded.contains(&name);
                        strsim::jaro_winkler(folded, &name) + if contains { 1.0 } else { 0.0 }
                    })
                    .fold(f64::MIN, f64::max);
                (score, i)
            })
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        scored.into_iter().take(n).map(|(_, i)| i).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn imagenet() -> ClassNames {
        ClassNames::load_default().unwrap()
    }

    fn message(err: Error) -> String {
        match err {
            Error::UnknownClass(m) => m,
            e => panic!("{e:?}"),
        }
    }

    #[test]
    fn loads_the_imagenet_classes() {
        let c = imagenet();
        assert_eq!(c.len(), 1000);
        assert!(!c.is_empty());
        assert_eq!(c.name(0), "tench");
        assert_eq!(c.name(1), "goldfish");
        assert_eq!(c.synset(1), "n01443537");
        assert_eq!(c.name(999), "toilet tissue");
        assert_eq!(c.index_of_synset("n01443537"), Some(1));
        assert_eq!(c.index_of_synset("n00000000"), None);
    }

    #[test]
    fn resolves_indices_synsets_and_names() {
        let c = imagenet();
        assert_eq!(c.resolve("1").unwrap(), 1);
        assert_eq!(c.resolve("999").unwrap(), 999);
        assert_eq!(c.resolve("n01443537").unwrap(), 1);
        let penguin = c.index_of_synset("n02056570").unwrap();
        for q in [
            "king penguin",
            "king_penguin",
            "King Penguin",
            " KING-penguin ",
        ] {
            assert_eq!(c.resolve(q).unwrap(), penguin, "{q}");
        }
        // Alternative names, and names with hyphens.
        assert_eq!(c.resolve("Carassius auratus").unwrap(), 1);
        assert_eq!(c.resolve("sulphur crested cockatoo").unwrap(), 89);
        // A first name beats another class's alternative name ("partridge" is also 82's).
        assert_eq!(c.resolve("partridge").unwrap(), 86);
    }

    #[test]
    fn out_of_range_and_unknown_synset() {
        let c = imagenet();
        assert_eq!(
            message(c.resolve("1000").unwrap_err()),
            "class index 1000 is out of range 0..999"
        );
        assert!(
            message(c.resolve("99999999999999999999999").unwrap_err()).contains("out of range")
        );
        assert_eq!(
            message(c.resolve("n99999999").unwrap_err()),
            "unknown synset n99999999"
        );
    }

    #[test]
    fn ambiguous_names_list_the_classes() {
        let m = message(imagenet().resolve("crane").unwrap_err());
        assert!(m.contains("ambiguous"), "{m}");
        assert!(
            m.contains("134 crane (n02012849)") && m.contains("517 crane"),
            "{m}"
        );
    }

    #[test]
    fn unknown_names_suggest_close_ones() {
        let c = imagenet();
        let m = message(c.resolve("goldfsh").unwrap_err());
        assert!(
            m.starts_with("unknown class `goldfsh`; did you mean 1 goldfish"),
            "{m}"
        );
        let m = message(c.resolve("penguin").unwrap_err());
        assert!(m.contains("king penguin"), "{m}");
        assert_eq!(m.matches(" or ").count(), 2, "{m}");
    }

    #[test]
    fn labels_from_file_names() {
        let c = imagenet();
        assert_eq!(
            c.label_from_path(Path::new("x/n01443537_goldfish.jpg")),
            Some(1)
        );
        assert_eq!(c.label_from_path(Path::new("n02056570.png")), Some(145));
        assert_eq!(c.label_from_path(Path::new("holiday_photo.jpg")), None);
        for entry in std::fs::read_dir(crate::app::data::gallery_dir()).unwrap() {
            let path = entry.unwrap().path();
            let label = c.label_from_path(&path).unwrap();
            let name = path.file_stem().unwrap().to_str().unwrap();
            assert_eq!(fold(&name[10..]), fold(c.name(label)), "{name}");
        }
    }

    #[test]
    fn malformed_files_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("classes.txt");
        std::fs::write(&path, "n01\ta, b\nn02 no tab\n").unwrap();
        let err = ClassNames::load(&path).unwrap_err().to_string();
        assert!(err.contains("classes.txt: line 2"), "{err}");

        std::fs::write(&path, "n01\tcat\nn01\tdog\n").unwrap();
        let err = ClassNames::load(&path).unwrap_err().to_string();
        assert!(err.contains("appears twice"), "{err}");

        std::fs::write(&path, "n01\tcat, kitty\n\nn02\tdog\n").unwrap();
        let c = ClassNames::load(&path).unwrap();
        assert_eq!(
            (c.len(), c.name(0), c.resolve("kitty").unwrap()),
            (2, "cat", 0)
        );

        let err = ClassNames::load(&dir.path().join("missing.txt")).unwrap_err();
        assert!(matches!(err, Error::Io { .. }), "{err:?}");
    }
}
