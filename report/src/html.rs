//! `index.html`: the same report for a browser, with the SVG charts. The Markdown is rendered
//! with pulldown-cmark; a small script counts the charts that loaded into
//! `data-charts-loaded` on `<body>`, and lists what the first screen shows in
//! `data-first-screen` (the rendering test reads both).

use pulldown_cmark::{Options, Parser, html};

/// Renders the report's Markdown (with SVG chart links) as a standalone page.
pub fn page(title: &str, markdown: &str) -> String {
    let mut body = String::new();
    html::push_html(&mut body, Parser::new_ext(markdown, Options::ENABLE_TABLES));
    let body = body.replace("<img src=\"charts/", "<img class=\"chart\" src=\"charts/");
    let charts = body.matches("<img class=\"chart\"").count();
    format!(
        r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font-family: "DejaVu Sans", Verdana, Arial, sans-serif; max-width: 1500px; margin: 2em auto; padding: 0 1.5em; color: #1e1e1e; line-height: 1.45; }}
h1 {{ font-size: 1.7em; }} h2 {{ margin-top: 2em; border-bottom: 1px solid #ccc; }}
table {{ border-collapse: collapse; margin: 0.8em 0 1.4em; font-size: 0.9em; }}
th, td {{ border: 1px solid #d0d0d0; padding: 0.3em 0.6em; vertical-align: top; }}
th {{ background: #f3f3f3; }} tr:nth-child(even) td {{ background: #fafafa; }}
img.chart {{ max-width: 100%; height: auto; display: block; margin: 1em 0; border: 1px solid #e4e4e4; }}
p:has(> img.chart + img.chart) {{ display: flex; gap: 0.8em; align-items: flex-start; }}
p:has(> img.chart + img.chart) > img.chart {{ flex: 1 1 0; min-width: 0; margin: 0.5em 0; }}
blockquote {{ border-left: 4px solid #c0392b; margin: 1em 0; padding: 0.3em 1em; background: #fdf1f0; }}
code {{ font-size: 0.92em; }}
</style>
</head>
<body data-charts-expected="{charts}" data-charts-loaded="pending">
{body}<script>
window.addEventListener('load', function () {{
  var imgs = document.querySelectorAll('img.chart');
  var loaded = 0;
  for (var i = 0; i < imgs.length; i++) {{
    if (imgs[i].complete && imgs[i].naturalWidth > 0) loaded++;
  }}
  document.body.setAttribute('data-charts-loaded', String(loaded));
  // What a reader sees before scrolling: the headings, tables and charts whose top is within
  // the window (the rendering test reads it at a laptop's size).
  var seen = [];
  var shown = document.querySelectorAll('h1, h2, table, img.chart');
  for (var j = 0; j < shown.length; j++) {{
    var e = shown[j];
    if (e.getBoundingClientRect().top < window.innerHeight) {{
      var tag = e.tagName.toLowerCase();
      seen.push(tag.charAt(0) === 'h' ? tag + ':' + e.textContent : tag === 'img' ? 'chart:' + e.getAttribute('src') : tag);
    }}
  }}
  document.body.setAttribute('data-first-screen', seen.join('|'));
}});
</script>
</body>
</html>
"#,
        title = escape(title),
    )
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
