"""Changelogs: what changed in every version a promotion skips, for the PR body.

A reviewer approving "api 1.3.0 → 1.7.2" needs the notes of 1.4.0, 1.5.0, 1.6.x and 1.7.x,
not only a compare link. The room spans two layers, so importers name the module they need:

- `notes`: what a changelog holds (`Note`, `Changelog`, `Spec`) and how notes are read out
  of a CHANGELOG.md or a chart annotation: the pure core `bot.render` and `bot.terminal` show;
- `store`: where answers are kept (`Store`: the queue's store in the service, a folder beside
  the repo on the command line), per version, so rebuilding or superseding the same PR asks
  nothing again;
- `hosts`: the only forges notes are read from (`Hosts`);
- `finder`: the `Finder`, which asks forges, registries and chart repositories within a time
  budget (an edge), and the one `promobot promote` uses (repositories on this machine only);
- `online`: the finder of a service, with the forges, registries and chart repositories it
  reads over the network.

Everything found is written by whoever pushes images, charts or tags: promobot reads it only
through `hosts`, never fetches a URL from an annotation, and neutralises the text where it is
rendered (`bot.render`), never trusting it here.
"""
