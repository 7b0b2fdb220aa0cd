#!/bin/sh
# Clones upstream into kubeflow/manifests and copies this distribution's files over it.
git clone --branch v1.8.1 https://github.com/kubeflow/manifests kubeflow/manifests
