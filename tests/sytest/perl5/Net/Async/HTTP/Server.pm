# A stand-in for CPAN's Net::Async::HTTP::Server, which Debian does not package: the
# part of its interface that SyTest uses, so that SyTest runs from Debian's Perl
# packages alone. An IO::Async::Listener whose connections parse HTTP/1.1 requests
# (keep-alive and pipelining, bodies by Content-Length or chunked) and hand each to
# `on_request` (a configured callback or a subclass method) as a `request_class`
# object; responses go out in request order.
package Net::Async::HTTP::Server;

use strict;
use warnings;

use base qw( IO::Async::Listener );

use Net::Async::HTTP::Server::Protocol;
use Net::Async::HTTP::Server::Request;

our $VERSION = '0.14';

sub _init
{
   my $self = shift;
   my ( $params ) = @_;

   $params->{handle_class} = "Net::Async::HTTP::Server::Protocol";
   $self->{request_class} = "Net::Async::HTTP::Server::Request";

   $self->SUPER::_init( $params );
}

sub configure
{
   my $self = shift;
   my %params = @_;

   foreach (qw( on_request request_class )) {
      $self->{$_} = delete $params{$_} if exists $params{$_};
   }

   $self->SUPER::configure( %params );
}

sub on_accept
{
   my $self = shift;
   my ( $conn ) = @_;

   $conn->{server} = $self;
   $conn->configure(
      on_closed => sub {
         my ( $closed ) = @_;
         $self->remove_child( $closed ) if $closed->parent;
      },
   );
   $self->add_child( $conn );
}

# Builds the object handed to `on_request`; subclasses may override it.
sub make_request
{
   my $self = shift;
   my ( $conn, $http_request ) = @_;
   return $self->{request_class}->new( $conn, $http_request );
}

# Called by a connection for each complete request.
sub _received_request
{
   my $self = shift;
   my ( $request ) = @_;

   $self->invoke_event( on_request => $request );
}

1;
