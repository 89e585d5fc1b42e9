"""Database backends of elizabus."""
