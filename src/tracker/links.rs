//! The `links` tracker: URL templates for changesets and tickets, and no look-ups at all.

/// Links made from templates: `{sha}` in `changeset_url`, `{ticket}` in `ticket_url`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinksTracker {
    changeset_url: String,
    ticket_url: String,
}

impl LinksTracker {
    pub fn new(changeset_url: impl Into<String>, ticket_url: impl Into<String>) -> Self {
        LinksTracker {
            changeset_url: changeset_url.into(),
            ticket_url: ticket_url.into(),
        }
    }

    /// The changeset template with `{sha}` replaced; `None` when the template is empty.
    pub fn changeset_url(&self, sha: &str) -> Option<String> {
        fill(&self.changeset_url, "{sha}", sha)
    }

    /// The ticket template with `{ticket}` replaced; `None` when the template is empty.
    pub fn ticket_url(&self, id: u32) -> Option<String> {
        fill(&self.ticket_url, "{ticket}", &id.to_string())
    }
}

fn fill(template: &str, placeholder: &str, value: &str) -> Option<String> {
    (!template.is_empty()).then(|| template.replace(placeholder, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_the_templates() {
        let links = LinksTracker::new(
            "https://git.example.org/blog/commit/{sha}",
            "https://bugs.example.org/show_bug.cgi?id={ticket}",
        );
        assert_eq!(
            links.changeset_url("3f2a9c1").as_deref(),
            Some("https://git.example.org/blog/commit/3f2a9c1")
        );
        assert_eq!(
            links.ticket_url(212).as_deref(),
            Some("https://bugs.example.org/show_bug.cgi?id=212")
        );
    }

    #[test]
    fn an_empty_template_gives_no_link() {
        let links = LinksTracker::new("", "https://t.example.org/{ticket}");
        assert_eq!(links.changeset_url("abc"), None);
        assert_eq!(
            links.ticket_url(1).as_deref(),
            Some("https://t.example.org/1")
        );
    }
}
