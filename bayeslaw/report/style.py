"""The report's stylesheet (inline in the page: no external file, no web font)."""

CSS = """
body { margin: 0; background: #fafafa; color: #222;
       font: 15px/1.5 -apple-system, "Segoe UI", Roboto, "DejaVu Sans", Arial, sans-serif; }
main { max-width: 1000px; margin: 0 auto; padding: 24px 32px 48px; background: #fff; }
h1 { font-size: 1.6em; margin: 0.2em 0; }
h2 { font-size: 1.25em; margin: 1.6em 0 0.5em; padding-bottom: 0.2em; border-bottom: 1px solid #ddd; }
nav { margin: 0.8em 0 0; font-size: 0.9em; }
nav a { color: #2c5d8f; text-decoration: none; }
.muted { color: #666; font-size: 0.9em; }
.formula { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 1.05em;
           background: #f3f5f8; padding: 8px 12px; border-radius: 4px; overflow-x: auto; }
code { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 0.9em;
       background: #f3f5f8; padding: 1px 4px; border-radius: 3px; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.9em; }
th, td { border-bottom: 1px solid #e3e3e3; padding: 4px 10px; text-align: left; vertical-align: top; }
th { background: #f3f5f8; font-weight: 600; }
td .ci { color: #555; white-space: nowrap; }
table.params td:last-child { color: #444; }
.ok { border-left: 4px solid #2e8b57; padding: 4px 10px; background: #f1f8f4; }
.warn { border-left: 4px solid #c0392b; padding: 4px 10px; background: #fbf1f0; }
figure { margin: 0.8em 0; }
figure img { max-width: 100%; height: auto; }
"""
