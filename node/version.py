"""The Qdrant version whose API this server implements."""

VERSION = "1.16.0"
