"""Report content, insights, exports and renderers (PDF, XLSX, CSV): pure functions of frames."""
