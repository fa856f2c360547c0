//! The SSRF guard on callback URLs (placeholder; see the full implementation).
