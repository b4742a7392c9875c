//! Markdown to safe HTML, for every client that wants to show an answer as HTML.
//! Raw HTML in the Markdown is shown as text, never passed through; the result is then
//! sanitised with a small allow-list (no images, no scripts, no styles, no event handlers).

use pulldown_cmark::{Event, Options, Parser, html};
use std::collections::HashSet;
use std::sync::OnceLock;

fn sanitizer() -> &'static ammonia::Builder<'static> {
    static B: OnceLock<ammonia::Builder<'static>> = OnceLock::new();
    B.get_or_init(|| {
        let tags: HashSet<&str> = [
            "p",
            "br",
            "hr",
            "strong",
            "em",
            "del",
            "code",
            "pre",
            "blockquote",
            "ul",
            "ol",
            "li",
            "table",
            "thead",
            "tbody",
            "tr",
            "th",
            "td",
            "h1",
            "h2",
            "h3",
            "h4",
            "h5",
            "h6",
            "a",
        ]
        .into_iter()
        .collect();
        let mut b = ammonia::Builder::default();
        b.tags(tags)
            .url_schemes(["http", "https", "mailto"].into_iter().collect())
            .link_rel(Some("noopener noreferrer nofollow"));
        b
    })
}

/// Renders Markdown as sanitised HTML.
pub fn to_html(markdown: &str) -> String {
    let mut opts = Options::empty();
    opts.insert(Options::ENABLE_TABLES);
    opts.insert(Options::ENABLE_STRIKETHROUGH);
    let events = Parser::new_ext(markdown, opts).map(|e| match e {
        // HTML written in the Markdown is content to show, not markup to obey.
        Event::Html(t) | Event::InlineHtml(t) => Event::Text(t),
        other => other,
    });
    let mut out = String::with_capacity(markdown.len() * 3 / 2);
    html::push_html(&mut out, events);
    sanitizer().clean(&out).to_string()
}

#[cfg(test)]
mod tests {
    use super::to_html;

    #[test]
    fn renders_lists_tables_and_code() {
        let h = to_html("**Bold** and `code`\n\n- one\n- two\n\n| a | b |\n|---|---|\n| 1 | 2 |\n");
        assert!(
            h.contains("<strong>Bold</strong>") && h.contains("<code>code</code>"),
            "{h}"
        );
        assert!(
            h.contains("<li>one</li>") && h.contains("<table>") && h.contains("<td>2</td>"),
            "{h}"
        );
    }

    #[test]
    fn html_and_script_are_shown_as_text() {
        let h = to_html("Fix <img src=x onerror=\"window.__xss=1\"> now <script>alert(1)</script>");
        assert!(!h.contains("<img") && !h.contains("<script"), "{h}");
        assert!(h.contains("&lt;img src=x"), "{h}");
        let h = to_html("[click](javascript:alert(1)) ![x](http://tracker/x.png)");
        assert!(!h.contains("javascript:") && !h.contains("<img"), "{h}");
    }
}
