"""The Tiltfile, skaffold.yaml and the users' kind workflow, checked by the real tools."""
