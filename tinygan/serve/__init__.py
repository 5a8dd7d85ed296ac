"""`tinygan serve`: a page on the user's own machine for picking an avatar. It shows a grid of
faces with their ids, keeps the ones clicked in a tray, draws variations of a face and blends
of two, and downloads kept faces as PNGs or a zip. faces.py checks each request and draws;
app.py is the HTTP server (the standard library's); static/ holds the page, plain HTML, CSS
and JavaScript that need nothing from the internet.
"""
