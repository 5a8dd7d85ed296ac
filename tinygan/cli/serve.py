"""`tinygan serve`: browse faces, keep some and download them, on a local page
(tinygan/serve/)."""

import click

from . import DEVICE_OPTION, MODEL_OPTION, device_or_fail, fail, load_or_fail, main


@main.command(short_help="A page on this machine to browse faces, keep and download them.")
@click.option("--checkpoint", help="Checkpoint file or run folder to draw from, besides the "
              "shipped models [default: the newest run under runs/, if any].")
@MODEL_OPTION
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on. "
              "Another than this machine's own (127.0.0.1, localhost, ::1) lets anyone who "
              "can reach it use the page.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True,
              help="Port to listen on (0: any free port).")
@DEVICE_OPTION
def serve(checkpoint, model, host, port, device):
    """Serve a page for picking an avatar: a grid of faces with their ids, a new grid on a
    click or the N key, the sharpest faces only if asked; keep faces in a tray, see more like
    one, blend two, and download kept faces at 1, 2 or 4 times their size, one PNG each or
    all in a zip. Open the address it prints; Ctrl-C stops it."""
    from ..draw.avatars import Model, load_model
    from ..draw.generate import SHIPPED, NoModelError, shipped_model
    from ..draw.ids import model_tag
    from ..serve.app import LOOPBACK, address, make_server, serve_forever
    from ..serve.faces import Faces
    device = device_or_fail(device)
    path, G, _, meta = load_or_fail(checkpoint, device, model=model)
    models = [Model(path, G, None, meta, model_tag(path, G), device)]
    for name in SHIPPED:   # the shipped models are always on offer too
        if models[0].tag.split("-")[0] != name:
            try:
                models.append(load_model(shipped_model(name), device))
            except NoModelError:   # an installation without it
                pass
    try:
        server = make_server(Faces(models), host, port)
    except OSError as exc:
        fail(f"cannot listen on {host} port {port}: {exc.strerror or exc}"
             + ("; give another --port, or 0 for any free one" if port else ""))
    if host not in LOOPBACK:
        click.echo(f"warning: listening on {host}: anyone who can reach this machine there "
                   "can use the page and make it draw", err=True)
    click.echo(f"tinygan serve: open {address(server)} (models: "
               f"{', '.join(m.tag for m in models)}; Ctrl-C stops it)", err=True)
    serve_forever(server, lambda message: click.echo(message, err=True))
