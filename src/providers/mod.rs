//! Mock email, SMS and postal providers.
