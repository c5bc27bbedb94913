"""The Gradio app, by job: pickers, values, running, GPU estimate, endpoints, results, tabs, the page."""
