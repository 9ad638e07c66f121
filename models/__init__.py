"""The domain: tables and the rules that change them. Channel-agnostic."""
