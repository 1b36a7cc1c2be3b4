//! The browser console of koban — call-taker, dispatcher, field officer and supervisor
//! screens with an offline map — built from `console/` (TypeScript, Vite, MapLibre GL
//! JS) by this crate's build script and embedded in the binary. It talks only to the
//! public API under `/api/v1` and its event stream.

include!(concat!(env!("OUT_DIR"), "/files.rs"));

/// One embedded file.
#[derive(Debug, Clone, Copy)]
pub struct File {
    pub bytes: &'static [u8],
    pub content_type: &'static str,
}

/// The file at `path` (relative, no leading `/`; `index.html` for the page).
pub fn file(path: &str) -> Option<File> {
    FILES
        .binary_search_by(|(name, _, _)| (*name).cmp(path))
        .ok()
        .and_then(|i| FILES.get(i))
        .map(|(_, bytes, content_type)| File {
            bytes,
            content_type,
        })
}

/// Whether the real console was built into this binary; when not, [`not_built`] says why
/// and `index.html` is a page explaining it.
pub fn is_built() -> bool {
    NOT_BUILT.is_empty()
}

/// Why the console was not built (empty when it was).
pub fn not_built() -> &'static str {
    NOT_BUILT
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_is_always_there() {
        let page = file("index.html");
        assert!(page.is_some_and(|f| f.content_type.starts_with("text/html")));
        assert!(file("no/such/file").is_none());
    }
}
