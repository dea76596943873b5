"""Issue 9: the Tiltfile, skaffold.yaml and the users' kind workflow, checked by the real tools."""
